"""Bodies of the password routes: forgot, reset and change."""

from __future__ import annotations

import msgspec

from musicez.domain.redaction import hide_secrets
from musicez.entrypoints.http.schemas.fields import CurrentPasswordField, EmailField, NewPasswordField, ResetTokenField


class ForgotPasswordBody(msgspec.Struct, frozen=True):
    email: EmailField


@hide_secrets
class ResetPasswordBody(msgspec.Struct, frozen=True):
    token: ResetTokenField
    new_password: NewPasswordField


@hide_secrets
class ChangePasswordBody(msgspec.Struct, frozen=True):
    current_password: CurrentPasswordField
    new_password: NewPasswordField

"""Sample values for the OpenAPI reference: one user (Ada), her sessions, her tokens and the
API keys that call the service, consistent across every field and every example body.

Only documentation: nothing here is a credential, and nothing here is read while serving a
request. The shapes are the real ones (the access token is a JWT whose claims name Ada's user
and session; the refresh token starts with both ids), so a reader can recognise what they get.
"""

from __future__ import annotations

USER_ID = "0193a4f2-6c1e-7b3a-9f0d-2e5c8b7a4d10"
EMAIL = "ada@example.com"
CREATED_AT = "2026-11-25T10:00:00Z"

SESSION_ID = "0193a4f2-6c2a-7d41-8e3b-5a9c0f1d2e34"  # this device's session
OTHER_SESSION_ID = "0193a1c0-5f00-7e11-a222-3b44c55d66e7"  # a laptop logged in earlier
DEVICE_NAME = "Ada's Pixel 8"
OTHER_DEVICE_NAME = "Firefox on Windows"
LAST_USED_AT = "2026-12-01T09:45:12Z"
NOW = "2026-12-01T10:00:00Z"  # when the sample request is made
ACCESS_TOKEN_EXPIRES_AT = "2026-12-01T10:15:00Z"  # NOW + 900 s
REFRESH_EXPIRES_AT = "2026-12-08T10:00:00Z"  # NOW + 7 days

PASSWORD = "Purple-Ocean-Drum-42"  # meets the policy
NEW_PASSWORD = "Velvet-Anchor-Lamp-77"  # meets the policy too

# A JWT (EdDSA, `typ: at+jwt`) whose claims are iss musicez-auth, aud musicez-api, sub USER_ID,
# sid SESSION_ID, iat 1795600800 (2026-11-25T10:00:00Z) and exp 900 s later; the signature is made up.
ACCESS_TOKEN = (
    "eyJhbGciOiJFZERTQSIsImtpZCI6ImNVdzVKc2NydzZ1OVg2alFVWEsxSHNJeGZ0MUJIS2xtVWRxVlFSSVJkcUEiLCJ0eXAiOiJhdCtqd3QifQ"
    ".eyJpc3MiOiJtdXNpY2V6LWF1dGgiLCJhdWQiOiJtdXNpY2V6LWFwaSIsInN1YiI6IjAxOTNhNGYyLTZjMWUtN2IzYS05ZjBkLTJlNWM4Yjdh"
    "NGQxMCIsInNpZCI6IjAxOTNhNGYyLTZjMmEtN2Q0MS04ZTNiLTVhOWMwZjFkMmUzNCIsImp0aSI6IjdjMGYzZTViOWEyZDRlOGY4YjFjNmQy"
    "YTRlOWYwYjNjIiwiaWF0IjoxNzk1NjAwODAwLCJleHAiOjE3OTU2MDE3MDB9"
    ".rvyBFn4583pEHAQ9gnJLNyKPXitepvA1IfFp475qybmUQ96neVg0dR7la4i_kihma9lTmZio72T8P4m5N-qpFw"
)
ACCESS_TOKEN_ID = "7c0f3e5b9a2d4e8f8b1c6d2a4e9f0b3c"  # its `jti`
ACCESS_TOKEN_IAT = 1795600800
ACCESS_TOKEN_EXP = 1795601700
ISSUER = "musicez-auth"
AUDIENCE = "musicez-api"
KEY_ID = "cUw5Jscrw6u9X6jQUXK1HsIxft1BHKlmUdqVQRIRdqA"  # the JWK that verifies it
KEY_X = "fa7SNN7QZ5Q5tnr47f4RWeivz_nmW5y5xDCJJmj6OgI"

REFRESH_TOKEN = (  # user id, session id, generation 3, secret, MAC tag: 118 characters
    "AZOk8mweezqfDS5ci3pNEAGTpPJsKn1BjjtanA8dLjQAAAAAAAAAA49sZuSXTnwvqW6aX8R1a9mPte7XFYFE7QOm8VKqy27umjHx4AvdBE7yD4KkA7bZfA"
)
NEXT_REFRESH_TOKEN = (  # its successor: generation 4
    "AZOk8mweezqfDS5ci3pNEAGTpPJsKn1BjjtanA8dLjQAAAAAAAAABMTegkd50y3niCzbRbEcXTGb0zvKga75KEHBYmqGVQCMAEajgiGoIWDlK-K_Hm6v6g"
)
DEVICE_TOKEN = "mezd_AAAAAGuFQaBEnZb5W5i2bTCGgmpVPys4TZxYkiQ6_KPZsGJC3tvN55nuFMZDUBhbpPF0NJEuqno"  # expires in 90 days
RESET_TOKEN = "hZfZi_eM-iF1a-SflJubNbuJy2Ss_9TqNMjhIaBPh2Q"  # from the link of a reset mail
SECURITY_TOKEN = "HGzO9HXr42pfUCY8C84v7bI1vAFfXin1_Uj8g4MUikk"  # from the link of a "new sign-in" mail

API_KEY_ID = "0193a4f0-1b2c-7d3e-8f40-5a6b7c8d9e0f"
API_KEY_NAME = "recommendations-eu"

ACTIVITY_ID = "0193a4f2-6c31-7e02-a4b5-c6d7e8f90a1b"
OLDER_ACTIVITY_ID = "0193a1c0-5f04-7a55-b666-7c88d99eaa01"
ACTIVITY_CURSOR = "AAZgsNcgaQABk6HAXwR6VbZmfIjZnqoB"  # 32 characters, as handed out in next_cursor
USERS_CURSOR = "AZOk8woRfCKdM05V9qe4yQ"  # 22 characters, as handed out in next_cursor
OTHER_USER_ID = "0193a4f3-0a11-7c22-9d33-4e55f6a7b8c9"
OTHER_EMAIL = "grace@example.com"
DISABLED_REASON = "Chargeback fraud reported by the payments team"

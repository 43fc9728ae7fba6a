"""Pure domain: entities, value objects and errors. No framework, driver or I/O."""

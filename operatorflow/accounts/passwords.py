"""Password hashing with bcrypt and the password policy that new passwords must meet."""

from __future__ import annotations

import bcrypt

from operatorflow.errors import InvalidInput

BCRYPT_ROUNDS = 12
"""Cost factor: 2**12 rounds, about a quarter of a second per hash on one core of a 2020s server."""

MIN_LENGTH = 12
MAX_BYTES = 72
"""bcrypt reads only the first 72 bytes of a password, so longer ones are rejected, not silently cut."""

PASSWORD_RULE = (
    f"at least {MIN_LENGTH} characters (at most {MAX_BYTES} bytes), with at least two of: lowercase letters, "
    "uppercase letters, digits, other characters; not containing the username or the email address"
)

# A valid hash of a random password, checked for unknown users so that a sign-in takes as long
# for them as for a real account, and the timing does not tell which names exist.
_DUMMY_HASH = bcrypt.hashpw(b"no account has this password", bcrypt.gensalt(BCRYPT_ROUNDS))


def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(BCRYPT_ROUNDS)).decode("ascii")


def verify_password(password: str, password_hash: str | None) -> bool:
    """Check `password` against a bcrypt hash; an account with no hash never matches."""
    if not password_hash:
        bcrypt.checkpw(password.encode("utf-8")[:MAX_BYTES], _DUMMY_HASH)
        return False
    try:
        return bcrypt.checkpw(password.encode("utf-8")[:MAX_BYTES], password_hash.encode("ascii"))
    except ValueError:
        # A malformed stored hash matches no password.
        return False


def check_password_policy(password: str, username: str, email: str | None) -> None:
    """Raise InvalidInput naming the first rule that `password` breaks."""
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"The password is too short: use at least {MIN_LENGTH} characters.")
    if len(password.encode("utf-8")) > MAX_BYTES:
        raise InvalidInput(f"The password is too long: use at most {MAX_BYTES} bytes (bcrypt ignores the rest).")

    classes = [
        any(c.islower() for c in password),
        any(c.isupper() for c in password),
        any(c.isdigit() for c in password),
        any(not c.isalnum() for c in password),
    ]
    if sum(classes) < 2:
        raise InvalidInput(
            "The password uses only one kind of character: mix at least two of lowercase letters, "
            "uppercase letters, digits and other characters."
        )

    lowered = password.lower()
    if username and username.lower() in lowered:
        raise InvalidInput("The password contains the username: choose one that does not.")
    local_part = (email or "").split("@", 1)[0].lower()
    if email and (email.lower() in lowered or (len(local_part) >= 3 and local_part in lowered)):
        raise InvalidInput("The password contains the email address: choose one that does not.")

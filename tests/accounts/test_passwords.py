"""Password policy and bcrypt hashing."""

from __future__ import annotations

import pytest

from operatorflow.accounts import passwords
from operatorflow.errors import InvalidInput


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("Short#1", "The password is too short: use at least 12 characters."),
        ("A1" + "x" * 71, "The password is too long: use at most 72 bytes (bcrypt ignores the rest)."),
        ("alllowercaseletters", "The password uses only one kind of character: mix at least two of lowercase "
                                "letters, uppercase letters, digits and other characters."),
        ("123456789012", "The password uses only one kind of character: mix at least two of lowercase "
                         "letters, uppercase letters, digits and other characters."),
        ("My-ada-Password-1", "The password contains the username: choose one that does not."),
        ("Lovelace-Password-1", "The password contains the email address: choose one that does not."),
    ],
)
def test_policy_names_broken_rule(password, message):
    with pytest.raises(InvalidInput) as caught:
        passwords.check_password_policy(password, "ada", "lovelace@example.com")

    assert str(caught.value) == message


def test_policy_accepts_mixed_password():
    passwords.check_password_policy("correct horse battery 7", "ada", "ada@example.com")


def test_policy_counts_characters_not_bytes():
    passwords.check_password_policy("Grüße aus Köln", "ada", None)


def test_hash_verifies_only_its_password():
    stored = passwords.hash_password("Lovelace#1843")

    assert stored.startswith("$2b$")
    assert passwords.verify_password("Lovelace#1843", stored)
    assert not passwords.verify_password("Lovelace#1844", stored)


def test_account_without_hash_matches_nothing():
    assert not passwords.verify_password("", None)
    assert not passwords.verify_password("anything", "")
    assert not passwords.verify_password("anything", "not-a-bcrypt-hash")

"""Writes services/identity/src/identity/data/common_passwords.txt.

The list identity refuses as new passwords (issue 12, ADR 0015's neighbour in
docs/security.md): the roots that top every published breach-frequency list,
written down here from general knowledge (nothing is downloaded), combined
with the decorations people add to reach a length rule (years, "123", "!"),
plus keyboard walks and digit runs. Only entries of at least 12 characters are
kept: the policy refuses anything shorter anyway. Lower case; identity compares
the lower-cased password.

    .venv/bin/python tools/compile_common_passwords.py
"""

from __future__ import annotations

import itertools
from pathlib import Path

OUT = (
    Path(__file__).resolve().parents[1] / "services/identity/src/identity/data/common_passwords.txt"
)
MIN_LENGTH = 12

ROOTS = """
password passw0rd p@ssword p@ssw0rd pa55word pa55w0rd passwort motdepasse contrasena
senha parola wachtwoord haslo salasana qwerty qwertz azerty iloveyou iloveu loveyou
welcome welcome1 letmein admin administrator root toor superuser sysadmin changeme
default guest login access secret private master monkey dragon football baseball
basketball soccer hockey golfer tennis sunshine princess shadow superman batman
spiderman ironman trustno1 michael jennifer jordan michelle daniel jessica charlie
ashley hunter thomas robert matthew andrew joshua nicole hannah amanda william
richard joseph christopher anthony jonathan elizabeth samantha stephanie
alexander victoria natasha summer winter spring autumn freedom whatever computer
internet starwars pokemon naruto cheese chocolate butterfly flower orange banana
apple secret123 hello hellokitty lovely angel angels friends family forever
blink182 liverpool chelsea arsenal manchester barcelona realmadrid juventus
yankees cowboys lakers steelers eagles tigger pepper ginger buster cookie maggie
bailey samsung google facebook linkedin twitter instagram microsoft windows iphone
android mustang ferrari porsche corvette harley mercedes qwertyuiop asdfghjkl
zxcvbnm 1qaz2wsx qazwsx zaq12wsx abc123 abcdef abcd1234 company office
business crosstalk customer support service sales marketing manager welcome123
monday tuesday friday january february december christmas halloween easter
killer matrix mercedes nirvana metallica slipknot eminem rockyou babygirl
babyboy sweetheart sweetie honey darling sexy hottie lover beautiful
princesa tequiero teamo jesus jesuschrist blessed godisgood heaven
trinity purple yellow silver golden diamond crystal phoenix thunder lightning
tiger lion wolf eagle falcon jaguar panther cobra viper dolphin
minecraft fortnite roblox warcraft gaming gamer player zelda mario
snoopy garfield scooby mickey minnie donald bubbles smokey
london paris newyork berlin madrid tokyo sydney toronto chicago boston
america canada england germany france brazil mexico china india
qwerty123 asdf1234 zxcv1234 pass1234 test1234 temp1234 user1234 admin1234
test testing tester temp temporary user username letmeinplease opensesame
nopassword nothing noidea idontknow iforgot forgotten remember mypassword
yourpassword thepassword newpassword oldpassword securepassword strongpassword
supersecret topsecret verysecret mysecret confidential
football1 baseball1 iloveyou1 princess1 monkey1 dragon1 sunshine1 shadow1
abcdefghijkl abcdefghijklmnop
"""

NAMES_FOR_PHRASES = [
    "you",
    "me",
    "him",
    "her",
    "mom",
    "mum",
    "dad",
    "mother",
    "father",
    "baby",
    "jesus",
    "god",
    "life",
    "music",
    "money",
    "family",
    "friends",
    "dog",
    "cat",
    "horse",
    "myself",
    "mywife",
    "myhusband",
    "mykids",
]

SUFFIXES = [
    "",
    "1",
    "12",
    "123",
    "1234",
    "12345",
    "123456",
    "12345678",
    "123456789",
    "!",
    "1!",
    "123!",
    "1234!",
    "@123",
    "#1",
    "01",
    "007",
    "69",
    "99",
    "111",
    "2020",
    "2021",
    "2022",
    "2023",
    "2024",
    "2025",
    "2026",
    "@2026",
    "2026!",
]
PREFIXES = ["", "my", "the"]

WALKS = [
    "1234567890qwertyuiopasdfghjklzxcvbnm",
    "qwertyuiopasdfghjklzxcvbnm",
    "qwertzuiopasdfghjklyxcvbnm",
    "azertyuiopqsdfghjklmwxcvbn",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
    "zaq12wsxcde34rfvbgt56yhnmju78ik,lo9",
    "qazwsxedcrfvtgbyhnujmikolp",
    "1q2w3e4r5t6y7u8i9o0p",
    "q1w2e3r4t5y6u7i8o9p0",
    "!qaz@wsx#edc$rfv%tgb",
    "poiuytrewqlkjhgfdsamnbvcxz",
    "0987654321poiuytrewq",
    "1a2b3c4d5e6f7g8h9i0j",
    "a1b2c3d4e5f6g7h8i9j0",
    "asdfghjkl;'",
    "qwertyuiop[]",
    "abcdefghijklmnopqrstuvwxyz",
    "zyxwvutsrqponmlkjihgfedcba",
    "12345678901234567890",
    "09876543210987654321",
    "98765432109876543210",
    "01234567890123456789",
]


def words(text: str) -> list[str]:
    return [w for w in text.split() if w]


def candidates() -> set[str]:
    found: set[str] = set()
    roots = words(ROOTS)
    for root, suffix, prefix in itertools.product(roots, SUFFIXES, PREFIXES):
        if not (prefix and suffix):
            found.add(prefix + root + suffix)
    for root in roots:
        found.add(root * 2)
        found.add(root * 3)
        found.add(root + root[::-1])
        found.add(root + "." + root)
    for a, b in itertools.product(roots[:25], roots[:25]):
        if a != b:
            found.add(a + b)
    for name in NAMES_FOR_PHRASES:
        for lead in ("ilove", "iloveyou", "imissyou", "lovemy"):
            for suffix in ("", "1", "123", "!", "4ever", "forever"):
                found.add(lead + name + suffix)
    for walk in WALKS:
        for end in range(MIN_LENGTH, len(walk) + 1):
            found.add(walk[:end])
            found.add(walk[:end][::-1])
    digits = "12345678901234567890"
    for tail in (
        "",
        "a",
        "aa",
        "ab",
        "abc",
        "q",
        "qq",
        "qw",
        "qwe",
        "!",
        "!!",
        "@",
        "#",
        "00",
        "11",
        "12",
        "123",
        "a!",
        "qwerty",
        "asdf",
        "abcd",
        "pass",
        "admin",
    ):
        for length in range(8, 13):
            found.add(digits[:length] + tail)
            found.add(tail + digits[:length])
            found.add("0987654321"[: min(length, 10)] + tail)
    for char in "abcdefghijklmnopqrstuvwxyz0123456789!@#$%*.":
        for length in range(MIN_LENGTH, 21):
            found.add(char * length)
    for unit in (
        "12",
        "123",
        "1234",
        "12345",
        "123456",
        "ab",
        "abc",
        "abcd",
        "qwe",
        "asd",
        "qwer",
        "asdf",
        "xo",
        "ha",
        "la",
        "lol",
        "69",
        "00",
        "01",
        "10",
    ):
        for times in range(2, 11):
            found.add(unit * times)
    return {c.lower() for c in found if MIN_LENGTH <= len(c) <= 64}


def main() -> None:
    entries = sorted(candidates())
    header = [
        "# Common passwords identity refuses (lower case, one a line, >= 12 characters).",
        "# Generated by tools/compile_common_passwords.py; edit that script, not this file.",
    ]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(header + entries) + "\n")
    print(f"{len(entries)} entries -> {OUT}")


if __name__ == "__main__":
    main()

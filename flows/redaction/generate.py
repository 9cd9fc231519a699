#!/usr/bin/env python3
"""Generates flows/redaction/corpus.jsonl: labelled call-transcript utterances
for the PII redactor (runtime/src/policy/redact.rs).

Each line is {"text": ..., "pii": [{"class": ..., "value": ...}], "decoys": N}
and, for numbers split across turns, "turns": [...] ("text" is the turns
joined by a space). Values are normalised: digits for card, ssn, aadhaar and
national phones; "+" and digits for E.164 phones; upper-case PAN; compact
IBAN; lower-case e-mail. "decoys" counts the numbers in the line that are
not PII (order numbers, prices, dates, times, invalid checksums, ...).

Every identifier carries a valid checksum; every decoy is built to fail one.
Deterministic: run `python3 flows/redaction/generate.py` and the file is
byte-for-byte the same.
"""

import json
import os
import random

R = random.Random(20261122)

UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
TEENS = ["ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
         "seventeen", "eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


# ---------------------------------------------------------------- checksums

def luhn_digit(body):
    total = 0
    for i, ch in enumerate(reversed(body)):
        v = int(ch)
        if i % 2 == 0:
            v *= 2
            if v > 9:
                v -= 9
        total += v
    return str((10 - total % 10) % 10)


def luhn_ok(num):
    return luhn_digit(num[:-1]) == num[-1]


VD = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
      [2, 3, 4, 0, 1, 7, 8, 9, 5, 6], [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
      [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
      [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
      [8, 7, 6, 5, 9, 3, 2, 1, 0, 4], [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]]
VP = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
      [5, 8, 0, 3, 7, 9, 6, 1, 4, 2], [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
      [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
      [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8]]
VINV = [0, 4, 3, 2, 1, 5, 6, 7, 8, 9]


def verhoeff_digit(body):
    c = 0
    for i, ch in enumerate(reversed(body)):
        c = VD[c][VP[(i + 1) % 8][int(ch)]]
    return str(VINV[c])


def verhoeff_ok(num):
    c = 0
    for i, ch in enumerate(reversed(num)):
        c = VD[c][VP[i % 8][int(ch)]]
    return c == 0


def iban_mod(s):
    s = s[4:] + s[:4]
    return int("".join(str(int(ch, 36)) for ch in s)) % 97


# ---------------------------------------------------------------- generators

def digits(n):
    return "".join(R.choice("0123456789") for _ in range(n))


CARD_PREFIXES = [
    ("4", 16), ("4", 13), ("4", 19), ("51", 16), ("55", 16), ("2221", 16), ("2720", 16),
    ("34", 15), ("37", 15), ("6011", 16), ("622126", 16), ("622925", 16), ("644", 16),
    ("649", 16), ("65", 16), ("65", 19), ("3528", 16), ("3589", 16), ("300", 14), ("305", 14),
    ("36", 14), ("38", 16), ("39", 16),
]


def card():
    prefix, length = R.choice(CARD_PREFIXES)
    body = prefix + digits(length - len(prefix) - 1)
    return body + luhn_digit(body)


def bad_card():
    """Issuer-valid prefix and length, Luhn fails."""
    num = card()
    last = str((int(num[-1]) + R.randint(1, 9)) % 10)
    return num[:-1] + last


def ssn():
    while True:
        area = R.randint(1, 899)
        if area != 666:
            break
    return "%03d%02d%04d" % (area, R.randint(1, 99), R.randint(1, 9999))


def bad_ssn():
    kind = R.randint(0, 4)
    area, group, serial = R.randint(1, 899), R.randint(1, 99), R.randint(1, 9999)
    if area == 666:
        area = 667
    if kind == 0:
        area = 0
    elif kind == 1:
        area = 666
    elif kind == 2:
        area = R.randint(900, 999)
    elif kind == 3:
        group = 0
    else:
        serial = 0
    return "%03d%02d%04d" % (area, group, serial)


def aadhaar():
    body = R.choice("23456789") + digits(10)
    return body + verhoeff_digit(body)


def bad_aadhaar():
    num = aadhaar()
    if R.random() < 0.3:
        return R.choice("01") + num[1:]  # first digit 0 or 1
    return num[:-1] + str((int(num[-1]) + R.randint(1, 9)) % 10)


PAN_TYPES = "PCHFATBLJG"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def pan():
    return ("".join(R.choice(LETTERS) for _ in range(3)) + R.choice(PAN_TYPES) + R.choice(LETTERS)
            + digits(4) + R.choice(LETTERS))


def bad_pan():
    bad_type = R.choice([c for c in LETTERS if c not in PAN_TYPES])
    p = pan()
    return p[:3] + bad_type + p[4:]


# country: (length, BBAN shape: 'n' digit, 'a' upper letter, 'c' alnum)
IBAN_SHAPES = {
    "DE": "n" * 18, "GB": "aaaa" + "n" * 14, "FR": "n" * 10 + "c" * 11 + "nn",
    "ES": "n" * 20, "IT": "a" + "n" * 10 + "c" * 12, "NL": "aaaa" + "n" * 10,
    "BE": "n" * 12, "AT": "n" * 16, "CH": "n" * 5 + "c" * 12, "IE": "aaaa" + "n" * 14,
    "PL": "n" * 24, "PT": "n" * 21, "SE": "n" * 20, "DK": "n" * 14, "FI": "n" * 14,
    "NO": "n" * 11, "LU": "nnn" + "c" * 13, "GR": "n" * 7 + "c" * 16, "IS": "n" * 22,
    "HU": "n" * 24, "CZ": "n" * 20, "RO": "aaaa" + "c" * 16, "TR": "n" * 5 + "0" + "c" * 16,
    "SA": "nn" + "c" * 18, "AE": "n" * 19,
}


def bban(shape):
    out = []
    for ch in shape:
        if ch == "n":
            out.append(R.choice("0123456789"))
        elif ch == "a":
            out.append(R.choice(LETTERS))
        elif ch == "c":
            out.append(R.choice("0123456789" + LETTERS) if R.random() < 0.3 else R.choice("0123456789"))
        else:
            out.append(ch)
    return "".join(out)


def iban():
    cc = R.choice(sorted(IBAN_SHAPES))
    b = bban(IBAN_SHAPES[cc])
    check = 98 - iban_mod(cc + "00" + b)
    value = "%s%02d%s" % (cc, check, b)
    assert iban_mod(value) == 1
    return value


def bad_iban():
    v = iban()
    check = int(v[2:4])
    wrong = (check + R.randint(1, 50)) % 97 + 2
    w = "%s%02d%s" % (v[:2], wrong, v[4:])
    return w if iban_mod(w) != 1 else v[:2] + "%02d" % ((check + 1) % 100) + v[4:]


FIRST = ["john", "maria", "priya", "wei", "fatima", "lars", "sofia", "rahul", "emma", "li",
         "carlos", "aisha", "tom", "anna", "raj", "olga"]
LAST = ["smith", "garcia", "sharma", "chen", "khan", "nielsen", "rossi", "patel", "brown",
        "muller", "dubois", "kim", "singh", "novak"]
DOMAINS = ["gmail.com", "yahoo.co.in", "outlook.com", "example.org", "acme-corp.com",
           "mail.example.de", "icloud.com", "proton.me", "company.co.uk"]


def email():
    sep = R.choice([".", "_", "", "-"])
    local = R.choice(FIRST) + sep + R.choice(LAST)
    if R.random() < 0.3:
        local += str(R.randint(1, 99))
    return local + "@" + R.choice(DOMAINS)


def nanp():
    area = str(R.randint(2, 9)) + digits(2)
    exch = str(R.randint(2, 9)) + digits(2)
    return area + exch + digits(4)


def phone():
    """Returns (value, written)."""
    kind = R.randint(0, 8)
    if kind == 0:
        n = nanp()
        return n, "(%s) %s-%s" % (n[:3], n[3:6], n[6:])
    if kind == 1:
        n = nanp()
        return n, "%s-%s-%s" % (n[:3], n[3:6], n[6:])
    if kind == 2:
        n = nanp()
        return "+1" + n, "+1 %s %s %s" % (n[:3], n[3:6], n[6:])
    if kind == 3:
        n = "020" + str(R.randint(3, 8)) + digits(7)
        return n, "%s %s %s" % (n[:3], n[3:7], n[7:])
    if kind == 4:
        n = "20" + str(R.randint(3, 8)) + digits(7)
        return "+44" + n, "+44 %s %s %s" % (n[:2], n[2:6], n[6:])
    if kind == 5:
        n = str(R.randint(6, 9)) + digits(9)
        return "+91" + n, "+91 %s %s" % (n[:5], n[5:])
    if kind == 6:
        n = "07" + str(R.randint(4, 9)) + digits(8)
        return n, "%s %s" % (n[:5], n[5:])
    if kind == 7:
        n = "1" + digits(2) + digits(8)
        return "+49" + n, "+49 %s %s" % (n[:3], n[3:])
    n = nanp()
    return n, spoken_digits(n)


# ---------------------------------------------------------------- spoken forms

def spoken_digits(num, zero=None):
    words = []
    i = 0
    while i < len(num):
        d = num[i]
        run = 1
        while i + run < len(num) and num[i + run] == d and run < 3:
            run += 1
        if run >= 2 and R.random() < 0.5:
            word = "double" if run == 2 else R.choice(["triple", "treble"])
            words.append(word + " " + digit_word(d, zero))
            i += run
            continue
        words.append(digit_word(d, zero))
        i += 1
    return " ".join(words)


def digit_word(d, zero=None):
    if d == "0":
        return zero or R.choice(["zero", "oh", "o", "nought", "zero", "oh"])
    return UNITS[int(d)]


def pair_word(pair):
    a, b = int(pair[0]), int(pair[1])
    if a == 0:
        return "oh " + UNITS[b] if b else "oh oh"
    if a == 1:
        return TEENS[b]
    if b == 0:
        return TENS[a]
    return TENS[a] + R.choice(["-", " "]) + UNITS[b]


def spoken_pairs(num):
    """'4111' -> 'forty-one eleven'; an odd first digit is said alone."""
    words = []
    if len(num) % 2:
        words.append(digit_word(num[0], zero="zero"))
        num = num[1:]
    words += [pair_word(num[i:i + 2]) for i in range(0, len(num), 2)]
    return " ".join(words)


def mixed(num, group=4):
    parts = [num[i:i + group] for i in range(0, len(num), group)]
    return " ".join(p if R.random() < 0.5 else spoken_digits(p, zero="zero") for p in parts)


def grouped(num, sizes, sep=" "):
    out, i = [], 0
    for s in sizes:
        out.append(num[i:i + s])
        i += s
    if i < len(num):
        out.append(num[i:])
    return sep.join(x for x in out if x)


def card_written(num):
    kind = R.randint(0, 7)
    if kind == 0:
        return num
    if kind == 1:
        return grouped(num, [4, 6, 5] if len(num) == 15 else [4, 4, 4, 4, 3])
    if kind == 2:
        return grouped(num, [4, 4, 4, 4, 3], "-")
    if kind == 3:
        return spoken_digits(num)
    if kind == 4:
        return spoken_pairs(num)
    if kind == 5:
        return mixed(num)
    if kind == 6:
        return ", ".join(spoken_digits(p, zero="zero") for p in [num[i:i + 4] for i in range(0, len(num), 4)])
    return grouped(num, [4, 4, 4, 4, 3])


# ---------------------------------------------------------------- sentences

CARD_T = [
    "my card number is {}", "sure, it's {}", "the card is {} and it expires 09/27",
    "ok the number on the front is {}", "card {} please", "yeah {} that's my visa",
    "I want to pay with {}", "it's the one ending, well the full number is {}",
    "{} is the card", "can you charge {} for the balance of $120.50",
]
SSN_CTX_T = [
    "my social is {}", "social security number {}", "my SSN is {}",
    "the social security number is {}", "for the SSN it's {}", "ok my social, {}",
]
SSN_FMT_T = ["it's {} on the form", "{} is what I have", "the number is {}", "write down {}"]
AADHAAR_T = [
    "my aadhaar number is {}", "aadhaar {}", "the UID on my card is {}", "it's {} for the aadhaar",
    "my aadhar is {} please verify", "{} is my aadhaar",
]
PAN_T = ["my PAN is {}", "PAN card number {}", "it's {} for the tax form", "the PAN {} is on file"]
IBAN_T = [
    "my IBAN is {}", "please transfer to {}", "the account IBAN {} at my bank",
    "it's {} for the refund", "IBAN: {}",
]
EMAIL_T = [
    "my email is {}", "send it to {} please", "you can reach me at {}", "it's {}",
    "email me the receipt at {}, thanks",
]
PHONE_T = [
    "call me back at {}", "my number is {}", "you can reach me on {}", "my phone is {}",
    "the best number is {} after 5 pm", "text me at {}", "my mobile is {}",
]

DECOYS = [
    lambda: ("your order number is %d" % R.randint(10000, 99999999), 1),
    lambda: ("order %s was shipped on %d/%d/2025" % (digits(7), R.randint(1, 12), R.randint(1, 28)), 2),
    lambda: ("the total comes to $%d.%02d" % (R.randint(1, 2000), R.randint(0, 99)), 1),
    lambda: ("that's %d dollars and %d cents" % (R.randint(1, 500), R.randint(1, 99)), 2),
    lambda: ("it costs £%d,%03d.00" % (R.randint(1, 9), R.randint(0, 999)), 1),
    lambda: ("the appointment is on 2025-%02d-%02d at %d:%02d" % (R.randint(1, 12), R.randint(1, 28), R.randint(8, 17), R.choice([0, 15, 30, 45])), 2),
    lambda: ("we open at %d:%02d am and close at %d pm" % (R.randint(7, 10), R.choice([0, 30]), R.randint(5, 9)), 2),
    lambda: ("I called on March %d, %d" % (R.randint(1, 28), R.randint(2019, 2026)), 2),
    lambda: ("my order number is %s" % digits(10), 1),
    lambda: ("the invoice %s is overdue" % (str(R.randint(2, 9)) + digits(9)), 1),
    lambda: ("the card I tried was %s but it was declined" % bad_card(), 1),
    lambda: ("is it %s" % grouped(bad_card(), [4, 4, 4, 4, 3]), 1),
    lambda: ("the reference is %s" % grouped(bad_aadhaar(), [4, 4, 4]), 1),
    lambda: ("aadhaar %s" % bad_aadhaar(), 1),
    lambda: ("the form says %s" % grouped(bad_ssn(), [3, 2, 4], "-"), 1),
    lambda: ("the tracking code is %s" % digits(9), 1),
    lambda: ("my PAN is %s" % bad_pan(), 1),
    lambda: ("IBAN %s" % bad_iban(), 1),
    lambda: ("I have %d kids and %d dogs" % (R.randint(1, 5), R.randint(1, 3)), 2),
    lambda: ("room %d on floor %d" % (R.randint(100, 2500), R.randint(1, 30)), 2),
    lambda: ("the zip code is %05d" % R.randint(10000, 99999), 1),
    lambda: ("flight %d leaves at %d:%02d" % (R.randint(100, 9999), R.randint(0, 23), R.randint(0, 59)), 2),
    lambda: ("it's about %s minutes" % R.choice(["twenty five", "thirty", "forty-five", "ten", "fifteen"]), 1),
    lambda: ("oh, one moment please, I need %d seconds" % R.randint(5, 90), 1),
    lambda: ("I'll double check the %s items" % R.choice(["three", "four", "seven", "twelve"]), 1),
    lambda: ("version %d.%d.%d of the app" % (R.randint(1, 20), R.randint(0, 9), R.randint(0, 30)), 1),
    lambda: ("we are %d%% done, %d of %d" % (R.randint(1, 99), R.randint(1, 9), R.randint(10, 20)), 3),
    lambda: ("confirmation %s" % (str(R.randint(2, 9)) + digits(9)), 1),
    lambda: ("my account balance is %d,%03d" % (R.randint(1, 99), R.randint(0, 999)), 1),
    lambda: ("ticket number %s-%s" % (digits(4), digits(4)), 1),
    lambda: ("I was born in %d and moved in %d" % (R.randint(1940, 2005), R.randint(2006, 2024)), 2),
    lambda: ("press %d for billing or %d for support" % (R.randint(1, 4), R.randint(5, 9)), 2),
    lambda: ("the case number is %s" % (str(R.randint(2, 9)) + digits(10)), 1),
    lambda: ("the serial is %s" % (R.choice(LETTERS) + R.choice(LETTERS) + digits(8)), 1),
    lambda: ("triple A said %s hours" % R.choice(["two", "three", "four"]), 1),
]


def pii_line():
    kind = R.choice(["card", "card", "card", "ssn", "ssn", "aadhaar", "aadhaar", "pan", "iban",
                     "iban", "email", "phone", "phone", "phone"])
    if kind == "card":
        v = card()
        return R.choice(CARD_T).format(card_written(v)), [("card", v)]
    if kind == "ssn":
        v = ssn()
        if R.random() < 0.5:
            w = R.choice([grouped(v, [3, 2, 4], "-"), v, grouped(v, [3, 2, 4]), spoken_digits(v)])
            return R.choice(SSN_CTX_T).format(w), [("ssn", v)]
        return R.choice(SSN_FMT_T).format(grouped(v, [3, 2, 4], "-")), [("ssn", v)]
    if kind == "aadhaar":
        v = aadhaar()
        w = R.choice([grouped(v, [4, 4, 4]), v, spoken_digits(v), mixed(v), grouped(v, [4, 4, 4], "-")])
        return R.choice(AADHAAR_T).format(w), [("aadhaar", v)]
    if kind == "pan":
        v = pan()
        return R.choice(PAN_T).format(v), [("pan", v)]
    if kind == "iban":
        v = iban()
        w = v if R.random() < 0.4 else " ".join(v[i:i + 4] for i in range(0, len(v), 4))
        return R.choice(IBAN_T).format(w), [("iban", v)]
    if kind == "email":
        v = email()
        return R.choice(EMAIL_T).format(v), [("email", v)]
    v, w = phone()
    return R.choice(PHONE_T).format(w), [("phone", v)]


def split_line():
    """One number split across two turns."""
    kind = R.choice(["card", "card", "aadhaar", "phone"])
    if kind == "card":
        v = card()
        cut = R.choice([4, 8, 8, 12])
        a, b = v[:cut], v[cut:]
        fa = grouped(a, [4, 4, 4]) if R.random() < 0.5 else spoken_digits(a, zero="zero")
        fb = grouped(b, [4, 4, 4, 3]) if R.random() < 0.5 else spoken_digits(b, zero="zero")
        return ["my card number is " + fa, fb + " and that's it"], [("card", v)]
    if kind == "aadhaar":
        v = aadhaar()
        return ["my aadhaar is " + grouped(v[:8], [4, 4]), grouped(v[8:], [4]) + "."], [("aadhaar", v)]
    v = nanp()
    return ["my number is %s %s" % (v[:3], v[3:6]), "%s, got it?" % v[6:]], [("phone", v)]


def main():
    lines = []
    for _ in range(340):
        text, pii = pii_line()
        decoys = 0
        if R.random() < 0.25:
            extra, decoys = R.choice(DECOYS)()
            text = text + ", and " + extra if R.random() < 0.5 else extra + ", and " + text
        lines.append({"text": text, "pii": [{"class": c, "value": v} for c, v in pii], "decoys": decoys})
    for _ in range(30):
        turns, pii = split_line()
        lines.append({"text": " ".join(turns), "turns": turns,
                      "pii": [{"class": c, "value": v} for c, v in pii], "decoys": 0})
    for _ in range(300):
        text, decoys = R.choice(DECOYS)()
        if R.random() < 0.3:
            text2, d2 = R.choice(DECOYS)()
            text, decoys = text + " and " + text2, decoys + d2
        lines.append({"text": text, "pii": [], "decoys": decoys})
    R.shuffle(lines)
    # Self-check of the generated checksums.
    for line in lines:
        for p in line["pii"]:
            v = p["value"]
            if p["class"] == "card":
                assert luhn_ok(v), v
            if p["class"] == "aadhaar":
                assert verhoeff_ok(v), v
            if p["class"] == "iban":
                assert iban_mod(v) == 1, v
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus.jsonl")
    with open(out, "w", encoding="utf-8") as f:
        for line in lines:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
    print("%d utterances -> %s" % (len(lines), out))


if __name__ == "__main__":
    main()

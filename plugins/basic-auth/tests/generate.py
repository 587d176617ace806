#!/usr/bin/env python3
"""Regenerates hashes.json, the password hashes basic-auth's tests verify, with tools independent
of the plugin: Python's `bcrypt` and `argon2-cffi` (pip install bcrypt argon2-cffi).

Low costs keep the tests fast; the plugin reads the cost from each hash."""
import json, os
import bcrypt
from argon2 import PasswordHasher, Type

here = os.path.dirname(os.path.abspath(__file__))
argon2id = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.ID)
argon2i = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.I)
hashes = {
    "alice": {"password": "alice-password", "hash": bcrypt.hashpw(b"alice-password", bcrypt.gensalt(rounds=4)).decode()},
    "bob": {"password": "bob: p\u00e4ss w0rd", "hash": argon2id.hash("bob: p\u00e4ss w0rd")},
    "carol": {"password": "carol-pw", "hash": argon2i.hash("carol-pw")},
    "dave": {"password": "dave-pw", "hash": bcrypt.hashpw(b"dave-pw", bcrypt.gensalt(rounds=10)).decode()},
}
with open(os.path.join(here, "hashes.json"), "w") as f:
    json.dump(hashes, f, indent=2, ensure_ascii=False)
    f.write("\n")

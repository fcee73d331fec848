#!/usr/bin/env python3
"""Regenerates data.json for the heavy Rego benchmark (seeded, so the file is stable):
1,000 allowed CIDRs (office/VPN/partner ranges, mostly IPv4, some IPv6) and 1,000
allowed user names, plus a little configuration. Usage: gen-data.py > data.json"""
import json
import random
import sys

random.seed(7)
cidrs = set()
while len(cidrs) < 1000:
    kind = random.random()
    if kind < 0.45:
        cidrs.add("10.%d.%d.0/24" % (random.randrange(256), random.randrange(256)))
    elif kind < 0.75:
        cidrs.add("172.%d.%d.0/%d" % (random.randrange(16, 32), random.randrange(256), random.choice([24, 25, 26, 28])))
    elif kind < 0.9:
        cidrs.add("192.168.%d.%d/%d" % (random.randrange(256), random.choice([0, 64, 128, 192]), random.choice([26, 27, 28])))
    else:
        cidrs.add("2001:db8:%x:%x::/64" % (random.randrange(65536), random.randrange(65536)))
first = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj",
         "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yuki", "zoe", "akira", "bea", "chen", "dmitri"]
last = ["smith", "jones", "tanaka", "sato", "muller", "garcia", "kim", "nguyen", "ivanova", "rossi", "silva", "khan",
        "cohen", "novak", "berg", "lee", "wang", "ali", "haas", "moreau"]
users = set()
while len(users) < 1000:
    users.add("%s.%s%d@example.com" % (random.choice(first), random.choice(last), random.randrange(100)))
data = {"allow": {"cidrs": sorted(cidrs), "users": sorted(users)},
        "config": {"min_severity": 3, "blocked_countries": ["KP", "IR", "SY", "CU"],
                   "sensitive_apps": ["aws-console", "github-enterprise", "vault", "okta-admin"],
                   "business_hours": {"start": 8, "end": 19}}}
json.dump(data, sys.stdout, indent=1)

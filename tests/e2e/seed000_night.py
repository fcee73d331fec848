"""Seed 000's night (../shared/seeds/000_*.txt, Warren's article): the events a small
team finds in the morning, in the formats their sources really send.

  - 900 GuardDuty port probes (Recon:EC2/PortProbeUnprotectedPort, EventBridge
    "GuardDuty Finding" events) from one scanner on 10 servers, 90 ports each;
  - 150 Wazuh 4.x sshd failures (rules 5716 "authentication failed" and 5710
    "non-existent user", alerts.json lines) from one IP against 37 accounts;
  - 30 GuardDuty Behavior:EC2/TrafficVolumeUnusual findings: the nightly backup
    server sending its dump off-site (the false positives);
  - 1 Falco "Terminal shell in container" in the production namespace (the incident);
  - and the night's ordinary non-detections the policies ignore with their reason:
    Wazuh level-3 "PAM: Login session opened" of the backup user, a Falco Debug
    event.

Deterministic for a seed (random.Random(seed)); the events are interleaved in time
order, as a night mixes them. Run alone, it writes one JSON line per event:
{"schema": ..., "body": ..., "kind": ...}:

    python3 tests/e2e/seed000_night.py [--seed N] > night.jsonl
"""
import argparse
import json
import random
import sys
import uuid
from datetime import datetime, timedelta, timezone

ACCOUNT = "123456789012"
REGION = "ap-northeast-1"
SCANNER = "198.51.100.7"
BRUTE = "203.0.113.45"
BACKUP_DEST = "192.0.2.80"
SERVERS = [f"i-0{n:02d}a1b2c3d4e5f6a7" for n in range(10)]
BACKUP_SERVER = "i-0bac4ed5e6f7a8b9c"
NIGHT_START = datetime(2026, 3, 10, 17, 0, 0, tzinfo=timezone.utc)  # 02:00 JST
COMMON_PORTS = [21, 22, 23, 25, 53, 80, 110, 111, 135, 139, 143, 443, 445, 993, 995, 1433, 1521, 2049, 2375,
                3306, 3389, 5432, 5900, 5984, 6379, 7001, 8000, 8080, 8443, 9200, 9300, 11211, 27017]
ACCOUNTS = (["root", "admin", "ubuntu", "ec2-user", "oracle", "postgres", "test", "git", "deploy", "jenkins",
             "ftpuser", "guest", "user", "support", "backup", "mysql", "www-data", "nagios", "pi", "centos",
             "hadoop", "elastic", "minecraft", "steam", "vagrant", "ansible", "docker", "kafka", "redis",
             "tomcat", "zabbix", "dev", "alice", "bob", "operator", "sysadmin", "webmaster"])
EXPECTED = {"port_probes": 900, "ssh_failures": 150, "backup_traffic": 30, "container_shell": 1,
            "ignored": 6, "accounts": 37, "hosts": 10}


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def guardduty_event(rng, t, finding):
    """The EventBridge envelope GuardDuty delivers findings in."""
    return {"version": "0", "id": str(uuid.UUID(int=rng.getrandbits(128))), "detail-type": "GuardDuty Finding",
            "source": "aws.guardduty", "account": ACCOUNT, "time": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION, "resources": [], "detail": finding}


def finding_base(rng, t, ftype, severity, instance, title, description, action):
    fid = "%032x" % rng.getrandbits(128)
    return {
        "schemaVersion": "2.0", "accountId": ACCOUNT, "region": REGION, "partition": "aws", "id": fid,
        "arn": f"arn:aws:guardduty:{REGION}:{ACCOUNT}:detector/12abc34d567e8fa901bc2d34e56789f0/finding/{fid}",
        "type": ftype,
        "resource": {"resourceType": "Instance", "instanceDetails": {
            "instanceId": instance, "instanceType": "m5.large", "instanceState": "running",
            "availabilityZone": f"{REGION}a", "imageId": "ami-0a1b2c3d4e5f60718",
            "networkInterfaces": [{"privateIpAddress": f"10.0.{SERVERS.index(instance) if instance in SERVERS else 9}.21",
                                   "subnetId": "subnet-0a1b2c3d", "vpcId": "vpc-0a1b2c3d",
                                   "securityGroups": [{"groupId": "sg-0a1b2c3d4e", "groupName": "web"}]}],
            "tags": [{"key": "Name", "value": "backup-01" if instance == BACKUP_SERVER else
                      f"web-{SERVERS.index(instance):02d}"}]}},
        "service": {"serviceName": "guardduty", "detectorId": "12abc34d567e8fa901bc2d34e56789f0",
                    "action": action, "resourceRole": "TARGET", "archived": False, "count": 1,
                    "eventFirstSeen": iso(t), "eventLastSeen": iso(t)},
        "severity": severity, "createdAt": iso(t), "updatedAt": iso(t), "title": title, "description": description,
    }


def port_probe(rng, t, instance, port):
    action = {"actionType": "PORT_PROBE", "portProbeAction": {"blocked": False, "portProbeDetails": [{
        "localPortDetails": {"port": port, "portName": "Unknown"},
        "localIpDetails": {"ipAddressV4": f"10.0.{SERVERS.index(instance)}.21"},
        "remoteIpDetails": {"ipAddressV4": SCANNER, "organization": {"asn": "64500", "asnOrg": "Example Hosting",
                                                                       "isp": "Example Hosting", "org": "Example Hosting"},
                            "country": {"countryName": "Netherlands"}, "city": {"cityName": "Amsterdam"},
                            "geoLocation": {"lat": 52.37, "lon": 4.89}}}]}}
    return finding_base(
        rng, t, "Recon:EC2/PortProbeUnprotectedPort", 2, instance,
        f"Unprotected port on EC2 instance {instance} is being probed.",
        f"EC2 instance has an unprotected port {port} which is being probed by a known malicious host.", action)


def backup_traffic(rng, t):
    action = {"actionType": "NETWORK_CONNECTION", "networkConnectionAction": {
        "connectionDirection": "OUTBOUND", "protocol": "TCP", "blocked": False,
        "localPortDetails": {"port": 40000 + rng.randrange(20000), "portName": "Unknown"},
        "remotePortDetails": {"port": 873, "portName": "RSYNC"},
        "remoteIpDetails": {"ipAddressV4": BACKUP_DEST, "organization": {"asn": "64501", "asnOrg": "Offsite Backup Co"},
                            "country": {"countryName": "Japan"}}}}
    return finding_base(
        rng, t, "Behavior:EC2/TrafficVolumeUnusual", 5, BACKUP_SERVER,
        f"EC2 instance {BACKUP_SERVER} is generating unusually large amounts of network traffic to a remote host.",
        f"EC2 instance {BACKUP_SERVER} is generating unusually large amounts of network traffic to remote host "
        f"{BACKUP_DEST}.", action)


def wazuh_sshd(rng, t, user, invalid, n):
    port = 30000 + rng.randrange(30000)
    stamp = t.strftime("%b %d %H:%M:%S").replace(" 0", "  ")
    if invalid:
        rule = {"level": 5, "description": "sshd: Attempt to login using a non-existent user", "id": "5710",
                "mitre": {"id": ["T1110.001"], "tactic": ["Credential Access"], "technique": ["Password Guessing"]},
                "firedtimes": n, "mail": False, "groups": ["syslog", "sshd", "authentication_failed", "invalid_login"],
                "gdpr": ["IV_35.7.d", "IV_32.2"], "pci_dss": ["10.2.4", "10.2.5", "10.6.1"]}
        log = f"{stamp} bastion-01 sshd[{2000 + n}]: Invalid user {user} from {BRUTE} port {port}"
        data = {"srcip": BRUTE, "srcport": str(port), "srcuser": user}
    else:
        rule = {"level": 5, "description": "sshd: authentication failed.", "id": "5716",
                "mitre": {"id": ["T1110.001"], "tactic": ["Credential Access"], "technique": ["Password Guessing"]},
                "firedtimes": n, "mail": False, "groups": ["syslog", "sshd", "authentication_failed"],
                "gdpr": ["IV_35.7.d", "IV_32.2"], "pci_dss": ["10.2.4", "10.2.5"]}
        log = f"{stamp} bastion-01 sshd[{2000 + n}]: Failed password for {user} from {BRUTE} port {port} ssh2"
        data = {"srcip": BRUTE, "srcport": str(port), "dstuser": user}
    return {"timestamp": t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}+0000", "rule": rule,
            "agent": {"id": "003", "name": "bastion-01", "ip": "10.0.0.5"}, "manager": {"name": "wazuh-manager"},
            "id": f"{int(t.timestamp())}.{rng.randrange(10**7)}", "full_log": log,
            "predecoder": {"program_name": "sshd", "timestamp": stamp, "hostname": "bastion-01"},
            "decoder": {"parent": "sshd", "name": "sshd"}, "data": data, "location": "/var/log/auth.log"}


def wazuh_session_opened(rng, t):
    stamp = t.strftime("%b %d %H:%M:%S").replace(" 0", "  ")
    return {"timestamp": t.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
            "rule": {"level": 3, "description": "PAM: Login session opened.", "id": "5501", "firedtimes": 1,
                     "mail": False, "groups": ["pam", "syslog", "authentication_success"]},
            "agent": {"id": "004", "name": "backup-01", "ip": "10.0.9.21"}, "manager": {"name": "wazuh-manager"},
            "id": f"{int(t.timestamp())}.{rng.randrange(10**7)}",
            "full_log": f"{stamp} backup-01 sudo: pam_unix(sudo:session): session opened for user backup by (uid=0)",
            "decoder": {"parent": "pam", "name": "pam"}, "data": {"dstuser": "backup"}, "location": "journald"}


def falco_shell(rng, t):
    fields = {"container.id": "3ad8e3c0b1f2", "container.image.repository": "registry.example.com/payments-api",
              "container.image.tag": "2.14.1", "container.name": "payments-api", "evt.time": int(t.timestamp() * 1e9),
              "evt.type": "execve", "k8s.ns.name": "production", "k8s.pod.name": "payments-api-7d9f8c6b5-x2x4q",
              "proc.cmdline": "bash", "proc.exepath": "/usr/bin/bash", "proc.name": "bash", "proc.pname": "runc",
              "proc.tty": 34816, "user.loginuid": -1, "user.name": "root", "user.uid": 0}
    return {"uuid": str(uuid.UUID(int=rng.getrandbits(128))), "hostname": "node-3", "output": (
        f"{t.strftime('%H:%M:%S.%f')}000: Notice A shell was spawned in a container with an attached terminal "
        "(evt_type=execve user=root user_uid=0 user_loginuid=-1 process=bash proc_exepath=/usr/bin/bash parent=runc "
        "command=bash terminal=34816 exe_flags=EXE_WRITABLE container_id=3ad8e3c0b1f2 "
        "container_image=registry.example.com/payments-api container_image_tag=2.14.1 container_name=payments-api "
        "k8s_ns=production k8s_pod_name=payments-api-7d9f8c6b5-x2x4q)"),
        "output_fields": fields, "priority": "Notice", "rule": "Terminal shell in container", "source": "syscall",
        "tags": ["T1059", "container", "maturity_stable", "mitre_execution", "shell"], "time": iso(t)}


def falco_debug(rng, t):
    return {"uuid": str(uuid.UUID(int=rng.getrandbits(128))), "hostname": "node-3",
            "output": "Falco internal: plugin loaded", "output_fields": {}, "priority": "Debug",
            "rule": "Falco plugin loaded", "source": "syscall", "tags": [], "time": iso(t)}


def night(seed=0):
    """The night's events, in time order: a list of {"schema", "body", "kind", "at"}."""
    rng = random.Random(seed)
    ev = []

    def add(kind, schema, at, body):
        ev.append({"kind": kind, "schema": schema, "at": at, "body": body})

    # the scanner: 10 servers x 90 ports between 02:10 and 03:40 JST
    ports = sorted(set(COMMON_PORTS) | set(rng.sample(range(1024, 65535), 90 - len(COMMON_PORTS))))
    for i, inst in enumerate(SERVERS):
        for j, port in enumerate(ports):
            t = NIGHT_START + timedelta(minutes=10 + i * 9, seconds=j * 6, milliseconds=rng.randrange(1000))
            add("port_probes", "guardduty", t, guardduty_event(rng, t, port_probe(rng, t, inst, port)))
    # the brute force: 150 failures over 37 accounts between 03:00 and 03:50 JST
    users = list(ACCOUNTS)
    tries = users + [rng.choice(users) for _ in range(150 - len(users))]
    rng.shuffle(tries)
    for n, user in enumerate(tries):
        t = NIGHT_START + timedelta(minutes=60, seconds=n * 20 + rng.randrange(15))
        invalid = user not in ("root", "admin", "ubuntu", "deploy", "backup", "alice", "bob")
        add("ssh_failures", "wazuh", t, wazuh_sshd(rng, t, user, invalid, n + 1))
    # the backup: 30 findings, one a minute from 03:00 JST
    for n in range(30):
        t = NIGHT_START + timedelta(minutes=60 + n, seconds=rng.randrange(30))
        add("backup_traffic", "guardduty", t, guardduty_event(rng, t, backup_traffic(rng, t)))
    # the backup user's sudo sessions (ignored), a Falco debug line (ignored)
    for n in range(5):
        t = NIGHT_START + timedelta(minutes=59 + n * 7)
        add("ignored", "wazuh", t, wazuh_session_opened(rng, t))
    add("ignored", "falco", NIGHT_START + timedelta(minutes=5), falco_debug(rng, NIGHT_START + timedelta(minutes=5)))
    # the incident, in the middle of the noise: 03:17 JST
    t = NIGHT_START + timedelta(minutes=77, seconds=41)
    add("container_shell", "falco", t, falco_shell(rng, t))
    ev.sort(key=lambda e: e["at"])
    return ev


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    for e in night(a.seed):
        json.dump({"schema": e["schema"], "kind": e["kind"], "body": e["body"]}, sys.stdout, separators=(",", ":"))
        sys.stdout.write("\n")


if __name__ == "__main__":
    main()

# ruff: noqa: E501
# (Log lines are as long as real hosts write them.)
"""Realistic log lines for the event pipelines, each with the event type it should get ("" for none).

Templates are written from what real hosts and apps print (Debian/Ubuntu auth.log, RHEL secure, RFC5424 as
rsyslog and journald forwarding write it, nginx/Apache access and error logs, uvicorn/Django/Node JSON logs,
logfmt). The expected type is the template's intent, decided by hand, never by running a pipeline. Negatives
include near misses on purpose (the word "password" in routine lines, `?select=` in a query string, file
locks, cache hits). `python benchmarks/pipelines.py corpus` writes tests/data/events/*.tsv from these.
"""

from __future__ import annotations

import random
from collections.abc import Callable

Template = tuple[str, str]  # (expected event_type or "", line with {placeholders})

USERS = ["alice", "bob", "carol", "deploy", "jenkins", "ubuntu", "postgres", "m.weber", "svc_backup", "root"]
BAD_USERS = ["admin", "test", "oracle", "guest", "user1", "ftpuser", "pi", "support", "git", "nagios"]
HOSTS = ["web-1", "web-02", "db-primary", "bastion", "ip-10-0-3-17", "api-7f9c"]
PATHS = ["/", "/api/orders", "/api/users/42", "/static/app.js", "/login", "/health", "/api/search?q=shoes", "/cart"]
AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "curl/8.5.0",
    "python-requests/2.31.0",
    "kube-probe/1.29",
]


def _ip(rng: random.Random) -> str:
    return f"{rng.choice([203, 198, 192, 45, 185, 10])}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def _syslog(rng: random.Random, program: str, message: str) -> str:
    """The same message under one of the syslog prefixes the pipelines must read."""
    host = rng.choice(HOSTS)
    pid = rng.randint(300, 65000)
    style = rng.randrange(4)
    if style == 0:  # RFC3164, Debian auth.log / RHEL secure
        return f"Mar {rng.randint(1, 28):2d} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d} {host} {program}[{pid}]: {message}"
    if style == 1:  # rsyslog high-precision (Ubuntu 24.04 default)
        return f"2024-03-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:07.{rng.randint(0, 999999):06d}+00:00 {host} {program}[{pid}]: {message}"
    if style == 2:  # RFC5424 from rsyslog/journald forwarding
        return f"<86>1 2024-03-{rng.randint(1, 28):02d}T10:{rng.randint(0, 59):02d}:11.{rng.randint(0, 999):03d}Z {host} {program} {pid} - - {message}"
    return f"<38>Mar {rng.randint(1, 28):2d} 08:15:{rng.randint(10, 59)} {host} {program}[{pid}]: {message}"  # RFC3164 on the wire


def _access(rng: random.Random, method: str, path: str, status: int, agent: str | None = None, rt: str = "") -> str:
    ts = f"[{rng.randint(1, 28):02d}/Mar/2024:{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d} +0000]"
    ua = agent or rng.choice(AGENTS)
    line = f'{_ip(rng)} - - {ts} "{method} {path} HTTP/1.1" {status} {rng.randint(0, 90000)} "-" "{ua}"'
    return line + rt


def security(rng: random.Random) -> list[tuple[str, str]]:
    u, b, ip, port = rng.choice(USERS), rng.choice(BAD_USERS), _ip(rng), rng.randint(1024, 65535)
    sshd = rng.choice(["sshd", "sshd", "sshd-session"])
    return [
        ("auth_failure", _syslog(rng, sshd, f"Failed password for {u} from {ip} port {port} ssh2")),
        ("auth_failure", _syslog(rng, sshd, f"Failed password for invalid user {b} from {ip} port {port} ssh2")),
        ("auth_failure", _syslog(rng, sshd, f"Failed publickey for {u} from {ip} port {port} ssh2: RSA SHA256:Zk3qfa")),
        ("invalid_user", _syslog(rng, sshd, f"Invalid user {b} from {ip} port {port}")),
        ("auth_success", _syslog(rng, sshd, f"Accepted publickey for {u} from {ip} port {port} ssh2: ED25519 SHA256:9x1Lq")),
        ("auth_success", _syslog(rng, sshd, f"Accepted password for {u} from {ip} port {port} ssh2")),
        ("too_many_auth_failures", _syslog(rng, sshd, f"Disconnecting authenticating user {u} {ip} port {port}: Too many authentication failures [preauth]")),
        ("too_many_auth_failures", _syslog(rng, sshd, f"error: maximum authentication attempts exceeded for invalid user {b} from {ip} port {port} ssh2 [preauth]")),
        ("preauth_disconnect", _syslog(rng, sshd, f"Connection closed by invalid user {b} {ip} port {port} [preauth]")),
        ("preauth_disconnect", _syslog(rng, sshd, f"Received disconnect from {ip} port {port}:11: Bye Bye [preauth]")),
        ("preauth_disconnect", _syslog(rng, sshd, f"Disconnected from authenticating user {u} {ip} port {port} [preauth]")),
        ("break_in_attempt", _syslog(rng, "sshd", f"reverse mapping checking getaddrinfo for {ip.replace('.', '-')}.static.example.net [{ip}] failed - POSSIBLE BREAK-IN ATTEMPT!")),
        ("auth_failure", _syslog(rng, sshd, f"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}  user={u}")),
        ("session_opened", _syslog(rng, sshd, f"pam_unix(sshd:session): session opened for user {u}(uid=1000) by (uid=0)")),
        ("session_closed", _syslog(rng, sshd, f"pam_unix(sshd:session): session closed for user {u}")),
        ("sudo", _syslog(rng, "sudo", f"   {u} : TTY=pts/{rng.randint(0, 9)} ; PWD=/home/{u} ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx")),
        ("sudo_failure", _syslog(rng, "sudo", f"   {u} : 3 incorrect password attempts ; TTY=pts/1 ; PWD=/home/{u} ; USER=root ; COMMAND=/bin/bash")),
        ("sudo_failure", _syslog(rng, "sudo", f"    {b} : user NOT in sudoers ; TTY=pts/0 ; PWD=/tmp ; USER=root ; COMMAND=/usr/bin/id")),
        ("auth_failure", _syslog(rng, "sudo", f"pam_unix(sudo:auth): authentication failure; logname={u} uid=1000 euid=0 tty=/dev/pts/1 ruser={u} rhost=  user={u}")),
        ("session_opened", _syslog(rng, "sudo", f"pam_unix(sudo:session): session opened for user root(uid=0) by {u}(uid=1000)")),
        ("su", _syslog(rng, "su", f"(to root) {u} on pts/{rng.randint(0, 5)}")),
        ("auth_failure", _syslog(rng, "su", f"FAILED SU (to root) {u} on pts/2")),
        ("account_change", _syslog(rng, "useradd", f"new user: name={u}, UID=1001, GID=1001, home=/home/{u}, shell=/bin/bash, from=/dev/pts/0")),
        ("account_change", _syslog(rng, "usermod", f"add '{u}' to group 'sudo'")),
        ("account_change", _syslog(rng, "userdel", f"delete user '{u}'")),
        ("account_change", _syslog(rng, "groupadd", "group added to /etc/group: name=devs, GID=1002")),
        ("account_change", _syslog(rng, "passwd", f"pam_unix(passwd:chauthtok): password changed for {u}")),
        ("unauthorized", _access(rng, "GET", "/admin/", 401)),
        ("forbidden", _access(rng, "POST", "/api/admin/users", 403)),
        ("rate_limited", _access(rng, "POST", "/api/login", 429)),
        ("path_traversal", _access(rng, "GET", "/static/..%2f..%2f..%2fetc/passwd", 400)),
        ("path_traversal", _access(rng, "GET", "/download?file=../../../../etc/shadow", 404)),
        ("sql_injection", _access(rng, "GET", "/products?id=1%20UNION%20SELECT%20username,password%20FROM%20users--", 500)),
        ("sql_injection", _access(rng, "GET", "/item.php?id=5%27%20OR%20%271%27=%271", 200)),
        ("scanner", _access(rng, "GET", "/.env", 404, "Mozilla/5.0 (compatible)")),
        ("scanner", _access(rng, "GET", "/index.php", 404, "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000003)")),
        ("scanner", _access(rng, "GET", "/.git/config", 404)),
        ("auth_failure", f'[Sun Mar 03 14:0{rng.randint(0, 9)}:11.123456 2024] [auth_basic:error] [pid {port}] [client {ip}:{port}] AH01617: user {u}: authentication failure for "/private": Password Mismatch'),
        ("invalid_user", f"[Sun Mar 03 14:02:11.123456 2024] [auth_basic:error] [pid {port}] [client {ip}:{port}] AH01618: user {b} not found: /private"),
        ("auth_failure", f'{{"timestamp":"2024-03-03T14:02:11Z","level":"warning","logger":"app.auth","message":"Login failed for user {u}","reason":"invalid_password","ip":"{ip}"}}'),
        ("auth_failure", f'level=warn ts=2024-03-03T14:02:11Z msg="login failed" user={u} reason=bad_password ip={ip}'),
        ("auth_failure", f'{{"event":"login_failed","user_id":"{u}","reason":"unknown_user","client_ip":"{ip}","level":"info"}}'),
        ("auth_success", f'{{"event":"login_succeeded","user":"{u}","ip":"{ip}","mfa":true}}'),
        ("auth_success", f"INFO 2024-03-03 14:02:11,123 views User {u} logged in from {ip}"),
        ("mfa_failure", f'{{"level":"warn","msg":"MFA verification failed: invalid TOTP code","user":"{u}","ip":"{ip}"}}'),
        ("mfa_failure", f"level=warn msg=\"invalid verification code\" user={u} method=sms"),
        ("account_locked", f'{{"level":"error","message":"Account locked after 5 failed attempts","username":"{u}"}}'),
        ("rate_limited", f'level=warn msg="rate limit exceeded" client_ip={ip} limit=100/min route=/api/login'),
        ("permission_denied", '{"levelname":"WARNING","name":"django.request","message":"Forbidden (Permission denied): /admin/auth/user/","status_code":403}'),
        ("permission_denied", f'level=info msg="permission denied" user={u} action=delete resource=project/42'),
        ("suspicious_activity", f'{{"level":"error","message":"Suspicious login from new country","user":"{u}","ip":"{ip}","country":"BR"}}'),
        ("suspicious_activity", f"WARNING django.security.SuspiciousOperation Invalid HTTP_HOST header: '{ip}'"),
        # Negatives: routine lines, some with tempting words.
        ("", _syslog(rng, "CRON", "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)")),
        ("", _syslog(rng, "CRON", f"({u}) CMD (/usr/local/bin/backup.sh > /dev/null 2>&1)")),
        ("", _syslog(rng, "systemd", f"Started Session {rng.randint(1, 900)} of User {u}.")),
        ("", _syslog(rng, "systemd-logind", f"New session {rng.randint(1, 900)} of user {u}.")),
        ("", _syslog(rng, "systemd", "Starting Daily apt upgrade and clean activities...")),
        ("", _syslog(rng, "kernel", f"[{rng.randint(1000, 99999)}.123456] EXT4-fs (nvme0n1p1): re-mounted. Opts: (null)")),
        ("", _syslog(rng, sshd, "Server listening on 0.0.0.0 port 22.")),
        ("", _syslog(rng, sshd, f"Received disconnect from {ip} port {port}:11: disconnected by user")),
        ("", _syslog(rng, sshd, f"Disconnected from user {u} {ip} port {port}")),
        ("", _syslog(rng, "systemd", "Started OpenBSD Secure Shell server.")),
        ("", _syslog(rng, "dbus-daemon", "[system] Successfully activated service 'org.freedesktop.PackageKit'")),
        ("", _syslog(rng, "polkitd", "Registered Authentication Agent for unix-process:1234:5678")),
        ("", _access(rng, "GET", rng.choice(PATHS), 200)),
        ("", _access(rng, "GET", "/api/products?select=name,price&order=asc", 200)),
        ("", _access(rng, "POST", "/login", 302)),
        ("", _access(rng, "GET", "/static/logo.png", 304)),
        ("", f'{{"level":"info","message":"Password reset email sent","user_id":"{rng.randint(1, 9999)}"}}'),
        ("", "level=info msg=\"acquired file lock\" path=/var/lib/app/db.lock"),
        ("", '{"level":"info","msg":"request completed","method":"GET","path":"/api/orders","status":200,"duration_ms":12}'),
        ("", f"INFO:     {ip}:{port} - \"GET /health HTTP/1.1\" 200 OK"),
    ]


def performance(rng: random.Random) -> list[tuple[str, str]]:
    slow, fast = f"{rng.uniform(1.2, 9):.3f}", f"{rng.uniform(0.001, 0.6):.3f}"
    path = rng.choice(PATHS)
    return [
        ("slow_request", _access(rng, "GET", path, 200, rt=f' "-" rt={slow} uct="0.000" uht="{slow}" urt="{slow}"')),
        ("slow_request", _access(rng, "POST", "/api/checkout", 201, rt=f" {slow}")),
        ("slow_request", _access(rng, "GET", path, 200, rt=f" {rng.randint(1_100_000, 9_000_000)}")),
        ("server_error", _access(rng, "GET", path, rng.choice([500, 502, 503, 504]), rt=f" {fast}")),
        ("server_error", _access(rng, "POST", "/api/orders", 500)),
        ("upstream_error", f'2024/03/03 14:02:{rng.randint(10, 59)} [error] 1234#1234: *{rng.randint(1, 99999)} upstream timed out (110: Connection timed out) while reading response header from upstream, client: {_ip(rng)}, server: shop.example.com, request: "GET {path} HTTP/1.1", upstream: "http://10.0.1.12:8080{path}", host: "shop.example.com"'),
        ("upstream_error", f'2024/03/03 14:02:11 [error] 77#77: *9 connect() failed (111: Connection refused) while connecting to upstream, client: {_ip(rng)}, server: _, request: "POST /api/pay HTTP/1.1", upstream: "http://127.0.0.1:9000/api/pay", host: "api"'),
        ("upstream_error", "[Sun Mar 03 14:02:11.123456 2024] [proxy:error] [pid 4242] (111)Connection refused: AH00957: http: attempt to connect to 127.0.0.1:8080 (localhost:8080) failed"),
        ("slow_query", f"2024-03-03 14:02:11.123 UTC [{rng.randint(100, 9999)}] app@shop LOG:  duration: {rng.uniform(600, 9000):.3f} ms  statement: SELECT * FROM orders WHERE customer_id = 42 ORDER BY created_at DESC"),
        ("slow_query", f'{{"level":"warning","logger":"db","msg":"slow query","query":"SELECT id FROM users WHERE email = $1","duration_ms":{rng.randint(600, 5000)}}}'),
        ("slow_query", f'level=warn msg="query finished" db=orders statement="UPDATE stock SET qty = qty - 1" duration={rng.uniform(0.6, 4):.3f}s'),
        ("slow_task", f"[2024-03-03 14:02:11,123: INFO/ForkPoolWorker-3] Task app.tasks.generate_report[{rng.getrandbits(64):016x}] succeeded in {rng.uniform(31, 400):.2f}s: None"),
        ("slow_task", f'{{"level":"info","msg":"job done","job":"SendNewsletter","queue":"default","duration_ms":{rng.randint(31000, 900000)}}}'),
        ("slow_request", f'{{"level":"info","msg":"request completed","method":"GET","path":"{path}","status":200,"duration_ms":{rng.randint(1100, 9000)}}}'),
        ("slow_request", f'{{"level":30,"time":1709474531000,"req":{{"method":"GET","url":"{path}"}},"res":{{"statusCode":200}},"responseTime":{rng.randint(1100, 8000)},"msg":"request completed"}}'),
        ("slow_request", f"level=info method=POST path=/api/upload status=201 duration={rng.uniform(1.1, 9):.3f}s"),
        ("server_error", f'{{"level":"error","msg":"request completed","method":"GET","path":"{path}","status":503,"duration_ms":{rng.randint(1, 90)}}}'),
        ("server_error", f"level=error method=GET path={path} status=500 duration=12ms"),
        ("cache_miss", f'{{"level":"debug","msg":"cache miss","key":"user:{rng.randint(1, 9999)}:profile"}}'),
        ("cache_miss", f"level=info cache=miss key=product:{rng.randint(1, 999)} took_ms=3"),
        # Negatives.
        ("", _access(rng, "GET", path, 200, rt=f" {fast}")),
        ("", _access(rng, "GET", path, 200, rt=f' "-" rt={fast} uct="0.000" uht="{fast}" urt="{fast}"')),
        ("", _access(rng, "GET", "/static/app.js", 304, rt=f" {rng.randint(100, 90000)}")),
        ("", _access(rng, "GET", path, 404)),
        ("", f'{{"level":"info","msg":"request completed","method":"GET","path":"{path}","status":200,"duration_ms":{rng.randint(1, 900)}}}'),
        ("", f"level=info method=GET path={path} status=200 duration={rng.randint(1, 800)}ms"),
        ("", f"2024-03-03 14:02:11.123 UTC [{rng.randint(100, 9999)}] app@shop LOG:  duration: {rng.uniform(0.1, 400):.3f} ms  statement: SELECT 1"),
        ("", f"[2024-03-03 14:02:11,123: INFO/ForkPoolWorker-1] Task app.tasks.send_email[{rng.getrandbits(64):016x}] succeeded in {rng.uniform(0.01, 20):.2f}s: None"),
        ("", f'{{"level":"debug","msg":"cache hit","key":"user:{rng.randint(1, 9999)}:profile"}}'),
        ("", f"INFO:     {_ip(rng)}:51234 - \"GET {path} HTTP/1.1\" 200 OK"),
        ("", '{"level":"info","msg":"server listening","port":8080}'),
        ("", _syslog(rng, "systemd", "Started nginx.service - A high performance web server and a reverse proxy server.")),
        ("", _syslog(rng, "kernel", "[  812.301] TCP: request_sock_TCP: Possible SYN flooding on port 443. Sending cookies.")),
        ("", "2024/03/03 14:02:11 [notice] 1#1: signal process started"),
    ]


def business(rng: random.Random) -> list[tuple[str, str]]:
    uid, oid = f"usr_{rng.getrandbits(32):08x}", f"ord_{rng.randint(10000, 99999)}"
    amount = f"{rng.uniform(5, 400):.2f}"
    return [
        ("signup", f'{{"timestamp":"2024-03-03T14:02:11Z","level":"info","event":"user.signup","user_id":"{uid}","plan":"free","source":"google"}}'),
        ("signup", f"ts=2024-03-03T14:02:11Z level=info event=user_registered user_id={uid} referrer=newsletter"),
        ("login", f'{{"level":"info","event":"user.login","user_id":"{uid}","method":"password"}}'),
        ("order_placed", f'{{"level":"info","event":"order.placed","order_id":"{oid}","user_id":"{uid}","amount":{amount},"currency":"EUR","items":3}}'),
        ("order_placed", f"level=info event=checkout_completed order_id={oid} user_id={uid} total={amount} currency=USD"),
        ("order_cancelled", f'{{"event":"order.cancelled","order_id":"{oid}","reason":"customer_request"}}'),
        ("payment_succeeded", f'{{"level":"info","event":"payment.succeeded","order_id":"{oid}","amount":{amount},"currency":"GBP","provider":"stripe"}}'),
        ("payment_failed", f'{{"level":"warning","event":"payment.failed","order_id":"{oid}","amount":{amount},"currency":"EUR","reason":"card_declined"}}'),
        ("payment_failed", f'level=warn event=payment_declined order_id={oid} amount={amount} reason="insufficient funds"'),
        ("refund_issued", f'{{"event":"refund.created","order_id":"{oid}","amount":{amount},"currency":"EUR"}}'),
        ("subscription_started", f'{{"event":"subscription.created","customer_id":"{uid}","plan":"pro_monthly"}}'),
        ("subscription_changed", f"level=info action=plan_changed account_id={uid} new_plan=business_yearly"),
        ("subscription_cancelled", f'{{"event":"subscription.cancelled","customer_id":"{uid}","plan":"pro_monthly","reason":"too_expensive"}}'),
        ("feature_used", f'{{"level":"info","event":"feature.used","feature":"export_csv","user_id":"{uid}"}}'),
        ("feature_used", f"level=info event=feature_used feature=dark_mode user_id={uid}"),
        # Negatives.
        ("", '{"level":"info","event":"request.finished","path":"/api/orders","status":200}'),
        ("", f'{{"level":"debug","event":"cache.warmup","keys":{rng.randint(1, 999)}}}'),
        ("", "level=info event=healthcheck status=ok"),
        ("", '{"level":"info","msg":"order service started","port":8080}'),
        ("", f'{{"level":"info","message":"Processing order {oid}"}}'),
        ("", f"level=debug msg=\"event loop lag\" lag_ms={rng.randint(1, 30)}"),
        ("", _syslog(rng, "systemd", "Started app.service - Shop backend.")),
        ("", _access(rng, "POST", "/api/orders", 201)),
        ("", f'{{"level":"info","action":"refresh_token","user_id":"{uid}"}}'),
    ]


PIPELINES: dict[str, Callable[[random.Random], list[tuple[str, str]]]] = {
    "security": security,
    "performance": performance,
    "business": business,
}


def corpus(pipeline: str, rounds: int, seed: int = 5) -> list[tuple[str, str]]:
    """`rounds` draws of every template of `pipeline`, with values varied by a seeded generator."""
    rng = random.Random(seed)
    out: list[tuple[str, str]] = []
    for _ in range(rounds):
        out.extend(PIPELINES[pipeline](rng))
    return out

"""Operations tasks of the ``agent`` style: debugging a staging service (unit status, a long log tail, its
config), moving it to another port later, the restart window the user sets and later changes, and a routine
look at the production host (the same service on another port: a hard negative). Each function plans its tasks
and questions on a :class:`~.agent_trace.Trace`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .agent_trace import AGENT, TOOL, USER, Trace
from .plan import Line

__all__ = ["Service", "debug", "new_service", "port_move", "prod_check", "restart_window", "window_change"]


_PORTS = (3000, 4000, 5000, 7070, 8000, 8080, 8081, 8443, 8888, 9000, 9443)


@dataclass
class Service:
    """The user's service on staging: its name, the two hosts, the port it listens on and the turns that say so."""

    name: str
    staging: str
    prod: str
    port: int
    prod_port: int
    port_key: str = ""


def new_service(t: Trace) -> Service:
    """A service with a staging and a production host and two different ports."""
    name = t.rng.choice(t.words.services)
    short = name.split("-")[0][:6]
    port, prod_port = t.rng.sample(_PORTS, 2)
    stg = f"stg-{short}-{t.rng.randint(1, 9):02d}"
    return Service(name, stg, f"prod-{short}-{t.rng.randint(1, 9):02d}", port, prod_port)


def _fill(t: Trace, template: str, service: str) -> str:
    """A vocabulary template with random values for its fields."""
    rng = t.rng
    path = rng.choice(t.words.api_paths).replace("{n}", str(rng.randint(1000, 99999)))
    values = {
        "path": path,
        "ms": rng.randint(3, 4800),
        "rid": t.code("req_AA99AA99"),
        "table": rng.choice(t.words.db_tables),
    }
    values |= {"n": rng.randint(10, 90000), "a": rng.randint(1, 40), "b": rng.randint(2, 250), "service": service}
    values["peer"] = rng.choice([s for s in t.words.services if s != service])
    return template.format(**values)


def _log(t: Trace, svc: Service, host: str, s: int, lines: int, failure: str = "") -> str:
    """A log tail of ``host``: noise lines with timestamps, and ``failure`` repeated a few times among them."""
    out, moment = [], t.at(s, -60)
    spots = set(t.rng.sample(range(lines // 2, lines), 3)) if failure else set()
    pid = t.rng.randint(1000, 65000)
    for i in range(lines):
        moment += dt.timedelta(seconds=t.rng.randint(1, 170))
        text = _fill(t, failure, svc.name) if i in spots else _fill(t, t.rng.choice(t.words.log_noise), svc.name)
        out.append(f"{moment:%Y-%m-%dT%H:%M:%S}Z {host} {svc.name}[{pid}]: {text}")
        if i in spots:
            pid = t.rng.randint(1000, 65000)
    return "\n".join(out)


def restart_window(t: Trace) -> tuple[str, str]:
    """A maintenance window as the user says it, and two of them differ."""
    start = t.rng.choice((19, 20, 21, 22))
    return f"{start}:00-{start + 1}:00 UTC", f"{start - 14:02d}:00-{start - 13:02d}:00 UTC"


def debug(t: Trace, svc: Service, s: int, window: str, *, move: bool, window_moves: bool) -> str:
    """The user's staging service fails after a deploy; the agent reads its status, logs and config and finds the
    cause. Returns the key of the user's request when it states the restart window.

    Questions: the cause (the log and the agent's summary), the deploy's day (the user's relative day), the port
    (the config; unless it moves later) and the restart window."""
    rng = t.rng
    failure = rng.choice(t.words.failures)
    when, day = t.when(s)
    ku = t.key()
    user = rng.choice(
        (
            "{svc} on staging ({host}) has been throwing 502s since the deploy {when}. Can you find out why?",
            "Since we deployed {svc} {when}, staging returns 502 on every request. Take a look? Box is {host}.",
        )
    ).format(svc=svc.name, host=svc.staging, when=when)
    if window:
        user += f" Don't restart anything outside {window}."
    lines = [Line(USER, user, ku)]
    cmd = f"systemctl status {svc.name} --no-pager"
    lines.append(
        Line(AGENT, t.call("shell", f"Checking the unit on {svc.staging} first.", host=svc.staging, command=cmd))
    )
    stamp = t.at(s, -1).strftime("%a %Y-%m-%d %H:%M:%S UTC")
    status = [
        f"* {svc.name}.service - {svc.name} (managed by deploy-agent)",
        f"     Loaded: loaded (/etc/systemd/system/{svc.name}.service; enabled; vendor preset: enabled)",
        f"     Active: activating (auto-restart) (Result: exit-code) since {stamp}; {rng.randint(2, 9)}s ago",
        f"    Process: {rng.randint(20000, 60000)} ExecStart=/opt/{svc.name}/bin/{svc.name}"
        f" --config /etc/{svc.name}/config.yaml"
        " (code=exited, status=1/FAILURE)",
        f"   Main PID: {rng.randint(20000, 60000)} (code=exited, status=1/FAILURE)",
        f"        CPU: {rng.randint(300, 4000) / 1000:.3f}s",
        f"{stamp[4:]} {svc.staging} systemd[1]: {svc.name}.service: Scheduled restart job,"
        f" restart counter is at {rng.randint(5, 90)}.",
        f"{stamp[4:]} {svc.staging} systemd[1]: {svc.name}.service: Failed with result 'exit-code'.",
    ]
    lines.append(Line(TOOL, "\n".join(status)))
    args = {"host": svc.staging, "unit": svc.name, "lines": 60, "since": "1h"}
    lines.append(Line(AGENT, t.call("logs", "It's in a restart loop. Pulling the recent logs.", **args)))
    kl = t.key()
    lines.append(Line(TOOL, _log(t, svc, svc.staging, s, rng.randint(16, 28), failure.log), kl))
    path = f"/etc/{svc.name}/config.yaml"
    lines.append(Line(AGENT, t.call("read_file", "Let me check the config as well.", host=svc.staging, path=path)))
    kc = t.key()
    lines.append(Line(TOOL, _config(t, svc, svc.port), kc))
    ka = t.key()
    cause = _fill(t, failure.fix, svc.name)
    lines += [Line(AGENT, f"Found it: {failure.cause}. {cause}", ka), Line(USER, t.thanks())]
    facts = [(TOOL, f"{svc.name} on staging failed because of {failure.cause}", kl)]
    facts.append((TOOL, f"{svc.name} listens on port {svc.port} on staging", kc))
    if window:
        facts.append((USER, f"the user only allows restarts {window}", ku))
    t.task(s, f"debug {svc.name} on staging", lines, facts)
    svc.port_key = kc
    f = {"svc": svc.name}
    t.ask(
        4,
        ("What was breaking {svc} on the staging server?", "What did the agent find behind the 502s from {svc}?"),
        failure.cause,
        [kl, ka],
        fields=f,
    )
    t.ask(
        2,
        ("When was the deploy that broke {svc} on staging?", "On what day was {svc} deployed before it failed?"),
        day,
        [ku],
        fields=f,
    )
    if not move:
        t.ask(
            4,
            ("Which port does {svc} listen on in staging?", "What port is {svc} configured with on staging?"),
            str(svc.port),
            [kc],
            fields=f,
        )
    if window and not window_moves:
        t.ask(
            4,
            ("During which hours may the agent restart services?", "What is the user's restart window?"),
            window,
            [ku],
        )
    return ku if window else ""


def window_change(t: Trace, s: int, old: str, new: str, old_key: str) -> None:
    """The user moves the restart window (a user-side update: the current window and the change)."""
    ku = t.key()
    user = t.rng.choice(
        (f"New rule for staging: restarts only {new} from now on.", f"Heads up, our restart window is now {new}.")
    )
    lines = [Line(USER, user, ku), Line(AGENT, "Understood, I'll stick to that for any restarts.")]
    t.task(s, "change the restart window", lines, [(USER, f"restarts are now allowed {new}", ku)])
    t.ask(
        4,
        ("During which hours may the agent restart services now?", "What is the user's current restart window?"),
        new,
        [ku],
        keep=True,
    )
    t.ask(1, ("How did the user's restart window change?",), f"from {old} to {new}", [old_key, ku], keep=True)


def _config(t: Trace, svc: Service, port: int) -> str:
    """The service's YAML config (the port under ``server``)."""
    rng = t.rng
    db = f"10.0.{rng.randint(1, 40)}.{rng.randint(2, 250)}"
    return "\n".join(
        [
            f"# {svc.name} configuration, managed by deploy-agent",
            "server:",
            "  host: 0.0.0.0",
            f"  port: {port}",
            f"  read_timeout: {rng.choice((5, 10, 15, 30))}s",
            f"  workers: {rng.choice((2, 4, 8, 16))}",
            "database:",
            f"  url: postgres://{svc.name.replace('-', '_')}@{db}:5432/{svc.name.split('-')[0]}",
            f"  pool_size: {rng.choice((10, 20, 32, 64))}",
            "redis:",
            f"  addr: 10.0.{rng.randint(1, 40)}.{rng.randint(2, 250)}:6379",
            f"  db: {rng.randint(0, 7)}",
            "tls:",
            f"  cert: /etc/{svc.name}/tls/server.crt",
            f"  key: /etc/{svc.name}/tls/server.key",
            "metrics:",
            f"  listen: 0.0.0.0:{rng.choice((9090, 9100, 9102))}",
            "logging:",
            f"  level: {rng.choice(('info', 'debug', 'warn'))}",
            "  format: json",
            "features:",
            f"  new_checkout: {rng.choice(('true', 'false'))}",
            f"  rate_limit_rps: {rng.choice((50, 100, 250))}",
        ]
    )


def port_move(t: Trace, svc: Service, s: int) -> None:
    """In a later session the agent moves the service to another port: the current port (the agent's patch and the
    listener table) and the change (the config, then the listener table)."""
    rng = t.rng
    new = rng.choice([p for p in _PORTS if p not in (svc.port, svc.prod_port)])
    user = f"Port {svc.port} clashes with the new metrics sidecar on {svc.staging}."
    user += f" Move {svc.name} to {new} and restart it."
    ku = t.key()
    lines = [Line(USER, user, ku)]
    path = f"/etc/{svc.name}/config.yaml"
    patch = (
        f"--- a{path}\n+++ b{path}\n@@ -2,4 +2,4 @@\n server:\n   host: 0.0.0.0\n-  port: {svc.port}\n+  port: {new}"
    )
    kp = t.key()
    lines.append(Line(AGENT, t.call("patch", "Patching the config.", host=svc.staging, patch=patch), kp))
    lines.append(Line(TOOL, f"Applied 1 hunk to {path} (1 line changed)."))
    cmd = f"sudo systemctl restart {svc.name} && sleep 3 && ss -tlnp"
    lines.append(Line(AGENT, t.call("shell", "Restarting and checking the listeners.", host=svc.staging, command=cmd)))
    ks = t.key()
    lines.append(Line(TOOL, _listeners(t, svc, new), ks))
    lines += [
        Line(AGENT, f"{svc.name} is back up on the new port and answering health checks."),
        Line(USER, t.thanks()),
    ]
    t.task(s, f"move {svc.name} to another port", lines, [(TOOL, f"{svc.name} on staging now listens on {new}", ks)])
    f = {"svc": svc.name}
    t.ask(
        4,
        ("Which port does {svc} use on staging now?", "What is the current port of {svc} on the staging server?"),
        str(new),
        [ku, kp, ks],
        keep=True,
        fields=f,
    )
    t.ask(
        1,
        ("How did the port of {svc} on staging change?",),
        f"from {svc.port} to {new}",
        [svc.port_key, ku, kp, ks],
        keep=True,
        fields=f,
    )


def _listeners(t: Trace, svc: Service, port: int) -> str:
    """``ss -tlnp`` output: sshd, exporters, a database proxy and the service."""
    rng = t.rng
    rows = [("0.0.0.0:22", "sshd", 812), (f"0.0.0.0:{port}", svc.name, rng.randint(20000, 60000))]
    rows += [
        ("0.0.0.0:9100", "node_exporter", rng.randint(900, 3000)),
        ("127.0.0.1:6432", "pgbouncer", rng.randint(900, 3000)),
    ]
    rows += [
        ("127.0.0.1:8125", "statsd", rng.randint(900, 3000)),
        ("0.0.0.0:9102", "metrics-sidecar", rng.randint(20000, 60000)),
    ]
    rng.shuffle(rows)
    out = ["State   Recv-Q  Send-Q  Local Address:Port   Peer Address:Port  Process"]
    for addr, name, pid in rows:
        out.append(
            f"LISTEN  0       4096    {addr:<20} 0.0.0.0:*          "
            f'users:(("{name}",pid={pid},fd={rng.randint(3, 12)}))'
        )
    return "\n".join(out)


def prod_check(t: Trace, svc: Service, s: int) -> None:
    """A routine look at the production host: disk and listeners, the same service on its production port."""
    lines = [Line(USER, f"Can you do a quick health check on {svc.prod}? Disk and listeners, nothing else.")]
    cmd = "df -h && ss -tlnp"
    lines.append(Line(AGENT, t.call("shell", f"Running df and ss on {svc.prod}.", host=svc.prod, command=cmd)))
    disks = ["Filesystem      Size  Used Avail Use% Mounted on"]
    for mount in ("/", "/var/lib", f"/var/lib/{svc.name}", "/boot"):
        size = t.rng.choice((20, 50, 100, 200))
        used = t.rng.randint(2, size - 1)
        disks.append(f"/dev/nvme0n1p{len(disks)}  {size}G  {used}G  {size - used}G  {used * 100 // size}% {mount}")
    lines.append(Line(TOOL, "\n".join(disks) + "\n\n" + _listeners(t, svc, svc.prod_port)))
    lines += [
        Line(AGENT, f"{svc.prod} looks healthy: disks under control, {svc.name} listening as expected."),
        Line(USER, t.thanks()),
    ]
    t.task(s, f"check {svc.prod}", lines)

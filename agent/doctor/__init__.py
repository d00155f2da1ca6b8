"""`agent doctor`: checks, with evidence, everything a config relies on, and says how to fix what fails.

    options.py  doctor's flags (the agent's flags pass through)     run.py      loads the config, runs the checks
    access.py   the agent's user; owner, group, mode; the fix       files.py    globs match readable files; positions
    docker.py   the Docker socket: present, permitted, answering    loki.py     DNS, TCP, TLS, /ready, a test push
    metrics.py  /metrics port and path, the Prometheus snippet      report.py   checks, text and JSON rendering

It never changes anything on the machine, except the one test entry it pushes to each Loki (opt out with
``-doctor.skip-push``) and a probe file it creates and removes in the positions directory.
"""

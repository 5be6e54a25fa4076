# SPDX-License-Identifier: BSD-2-Clause
"""A throw-away PostgreSQL 15 cluster for the integration tests.

PostgreSQL refuses to run as root, so every server command runs as the
postgres user (runuser).  The cluster listens on 127.0.0.1 on a port the
test picks; its data directory, socket directory and log live under a
base directory the test owns.  Used by test_backup.py (WAL archiving
through limen-backup) and test_acme_pgstore.py (shared ACME storage).
"""
import os
import pwd
import subprocess

import psycopg2

PGBIN = "/usr/lib/postgresql/15/bin"


def installed():
    return os.path.exists(os.path.join(PGBIN, "initdb"))


def pg_ids():
    pw = pwd.getpwnam("postgres")
    return pw.pw_uid, pw.pw_gid


def as_postgres(argv, **kw):
    return subprocess.run(["runuser", "-u", "postgres", "--", *argv],
                          capture_output=True, text=True, timeout=120, **kw)


class Cluster:
    """data: the data directory; sock: the socket directory (also where
    the server log goes); both must be writable by postgres."""

    def __init__(self, port, data, sock, connect_timeout=None):
        self.port = port
        self.data = data
        self.sock = sock
        self.log = os.path.join(sock, "log")
        self.connect_timeout = connect_timeout

    def initdb(self):
        r = as_postgres([PGBIN + "/initdb", "-D", self.data, "-A", "trust",
                         "-U", "postgres", "--no-sync"])
        assert r.returncode == 0, r.stderr

    def start(self, *settings):
        """settings: extra "name=value" server settings; a restart without
        them keeps those of the first start."""
        if settings:
            self.settings = settings
        settings = getattr(self, "settings", ())
        opts = "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off" % (
            self.port, self.sock)
        opts += "".join(" -c " + s for s in settings)
        r = as_postgres([PGBIN + "/pg_ctl", "-D", self.data, "-l", self.log,
                         "-w", "-t", "60", "start", "-o", opts])
        assert r.returncode == 0, r.stdout + r.stderr

    def stop(self, mode="fast"):
        as_postgres([PGBIN + "/pg_ctl", "-D", self.data, "-w", "stop",
                     "-m", mode])

    def server_log(self):
        if not os.path.exists(self.log):
            return ""
        with open(self.log, errors="replace") as f:
            return f.read()

    def conn(self, db="postgres"):
        kw = {}
        if self.connect_timeout:
            kw["connect_timeout"] = self.connect_timeout
        c = psycopg2.connect(host="127.0.0.1", port=self.port,
                             user="postgres", dbname=db, **kw)
        c.autocommit = True
        return c

    def sql(self, query, db="postgres", args=None):
        c = self.conn(db)
        try:
            cur = c.cursor()
            cur.execute(query, args)
            return cur.fetchall() if cur.description else None
        finally:
            c.close()

    def conninfo(self, db, connect_timeout=None):
        s = "host=127.0.0.1 port=%d dbname=%s user=postgres" % (self.port, db)
        if connect_timeout:
            s += " connect_timeout=%d" % connect_timeout
        return s

/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pgstore.h — the shared ACME store in PostgreSQL (`acme.storage:
 * { postgres: CONNINFO, key_file: FILE }`, SPEC §4): account, certificates
 * and keys shared by several limen instances, and the per-name advisory
 * lock that lets exactly one of them order a name.
 *
 * Tables (created if missing, under a transaction-level advisory lock so
 * that instances starting together do not race; schema version 1 in
 * limen_acme_meta):
 *
 *   limen_acme_meta     (key PK, value)       schema_version, key_check
 *   limen_acme_account  (directory PK, key_enc, url, updated_at)
 *   limen_acme_certs    (name PK, cert_pem, key_enc, not_after, rev,
 *                        updated_at, updated_by)
 *   limen_acme_rev      sequence: every write of a certificate gets the
 *                       next value, so "rev > last seen" finds changes
 *
 * key_enc columns hold AES-256-GCM blobs (store_crypt.h: magic, nonce,
 * ciphertext, tag); key_check is a sealed constant that tells at connect
 * time whether this instance's storage key is the one the tables were set
 * up with, so a wrong key_file is a clear error, never garbage.
 *
 * Threading: one dedicated thread per store owns the libpq connection and
 * uses libpq's ordinary blocking calls; the manager's event loop never
 * waits on the database.  This is simpler to get right than driving
 * PQsendQuery/PQconsumeInput from the loop, and the session-level
 * advisory locks need one long-lived connection anyway.  Every wait of the
 * thread is bounded: connect_timeout (CONNINFO's if 1-60 s, else 5 s), TCP
 * keepalives and tcp_user_timeout (20 s) for a silent peer,
 * statement_timeout 15 s and lock_timeout 10 s on the server.  Requests
 * go to the thread through a queue and a wake-up pipe; results come back
 * through a pipe watched by an event on the manager's loop, and the
 * callback runs there.  The thread LISTENs on channel limen_acme (every
 * save NOTIFYs it) and also polls for new rows every PGSTORE_POLL_S, so
 * another instance's certificate is picked up within a second or two, or
 * at worst at the next poll.
 *
 * A lost connection is reported (PGSTORE_DOWN, with the reason) and
 * retried with exponential backoff (1 s doubling to 60 s); requests made
 * meanwhile fail at once.  Advisory locks die with their session, so a
 * crashed instance never holds a name forever.
 */
#ifndef LIMEN_ACME_PGSTORE_H
#define LIMEN_ACME_PGSTORE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct event_base;
struct pgstore;

#define PGSTORE_POLL_S	30

enum pgstore_event_type {
	PGSTORE_READY,		/* connected; account_key_pem, account_url */
	PGSTORE_DOWN,		/* unreachable or refused: error */
	PGSTORE_LOCKED,		/* name locked by us; its row if any */
	PGSTORE_BUSY,		/* name locked by another instance */
	PGSTORE_LOCK_FAILED,	/* name: could not ask (error) */
	PGSTORE_SAVED,		/* name: written as rev; -1 = a newer row kept */
	PGSTORE_SAVE_FAILED,	/* name: error */
	PGSTORE_CERT,		/* name: a new row (cert_pem, key_pem, rev), or
				 * error if it cannot be opened */
};

struct pgstore_event {
	enum pgstore_event_type type;
	char *name;
	char *cert_pem;		/* LOCKED (if a row), CERT */
	char *key_pem;		/* decrypted; wiped after the callback */
	int64_t rev;		/* 0 = no row */
	char *account_key_pem;	/* READY */
	char *account_url;	/* READY, LOCKED; NULL if not known yet */
	char *error;
};

typedef void pgstore_cb(const struct pgstore_event *ev, void *arg);

/*
 * Start the thread.  secret is the acme.storage key (any length > 0);
 * directory selects the account row; local_account_pem is offered as the
 * shared account key if the store has none for this directory yet (the
 * first instance's key wins).  NULL with *err on failure.
 */
struct pgstore *pgstore_new(struct event_base *base, const char *conninfo,
    const char *secret, const char *directory, const char *local_account_pem,
    pgstore_cb *cb, void *arg, const char **err);

/*
 * Try the name's advisory lock: LOCKED (with the name's row and the
 * account URL, if stored), BUSY or LOCK_FAILED follows.  With
 * need_account (the account URL is not known yet) the account's lock is
 * taken too, so that instances starting together do not register the
 * shared key at once; it goes with the name's lock.
 */
void pgstore_lock(struct pgstore *s, const char *name, bool need_account);
void pgstore_unlock(struct pgstore *s, const char *name);
/*
 * Store a certificate (unless the row has one that expires later), NOTIFY
 * the other instances, then release the name's lock if we hold it.
 * SAVED or SAVE_FAILED follows.
 */
void pgstore_save(struct pgstore *s, const char *name, const char *cert_pem,
    const char *key_pem, time_t not_after);
/* Remember the account URL of this directory's account. */
void pgstore_set_account_url(struct pgstore *s, const char *url);

/*
 * Stop: no callback after this returns.  The thread finishes what it is
 * doing (bounded by the timeouts above), closes the connection and frees
 * itself; the caller does not wait for it.
 */
void pgstore_free(struct pgstore *s);

#endif

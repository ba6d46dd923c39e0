// Package pgstore is a pubsub.Store on PostgreSQL (jackc/pgx), for
// several instances of the pubsub service sharing one database: each
// instance takes requests (and sends the notifications of the publishes it
// took); the database orders and guards what they change.
//
//	st, err := pgstore.Open(ctx, "postgres://pubsub@db.example.net/pubsub", pgstore.Options{})
//	svc, err := pubsub.New(pubsub.Options{Store: st, ...})
//
// # Transactions
//
// A write transaction runs in READ COMMITTED and locks the row of every
// node it touches (SELECT … FOR UPDATE) before it reads or changes
// anything of it, so that two instances changing one node are serialized
// by the database: of two concurrent creates of a node one commits and the
// other gets pubsub.ErrExists, a publish and a configuration change of one
// node never interleave, and a node's items take their Seq (a database
// sequence, so the order is the database's) in commit order. A deadlock
// between two transactions (SQLSTATE 40P01) or a serialization failure
// (40001) is pubsub.ErrConflict, which the service answers by running the
// request again. A read transaction is REPEATABLE READ READ ONLY: one
// snapshot. Write returns once COMMIT has returned: the transaction is
// durable (as the server's synchronous_commit makes it) when the service
// acknowledges it.
//
// No statement is meant to fail inside a transaction (PostgreSQL aborts
// the whole transaction on the first error): existence is checked by the
// node lock, duplicates by ON CONFLICT.
//
// # Usage
//
// Usage is kept exact by triggers on every table, into one of 32 rows of
// pubsub_usage chosen by the server process of the connection (concurrent
// transactions run on different connections), so that concurrent writers
// rarely wait for each other on it; Usage sums the rows. The triggers
// count cascading deletes too. The count and bytes of a node's items are
// kept in its row the same way (ItemStats reads one row, not the items).
//
// # No caches
//
// The store keeps nothing between transactions: every instance reads the
// database, so no invalidation is needed between instances.
//
// # Unavailability
//
// When the database cannot be reached (refused, restarting, a broken
// connection), Read and Write fail with an error matching
// pubsub.ErrUnavailable, which the service answers wait/resource-constraint;
// the pool reconnects by itself. A COMMIT whose connection broke after it
// was sent has an unknown outcome: Write returns ErrOutcomeUnknown (the
// service answers internal-server-error and acknowledges nothing), though
// the change may have been made.
package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"xmppkit.dev/examples/pubsub-service/pubsub"
)

// Options configures a Store.
type Options struct {
	// MaxConns bounds the pool's connections (default: the URL's
	// pool_max_conns parameter, else 8).
	MaxConns int32
}

// usageShards is the number of rows of pubsub_usage.
const usageShards = 32

// Store is a pubsub.Store on PostgreSQL. Its methods are safe for
// concurrent use.
type Store struct {
	pool *pgxpool.Pool
}

var _ pubsub.Store = (*Store)(nil)

// ErrOutcomeUnknown is the error of a Write whose COMMIT was sent but
// whose answer was lost with the connection: the transaction may or may
// not have been made. The service answers internal-server-error (and does
// not acknowledge the request).
var ErrOutcomeUnknown = errors.New("pgstore: connection lost during COMMIT; the transaction may have been made")

// schemaLock is the advisory lock id that serializes schema setup between
// instances starting at once.
const schemaLock = 0x70756273 // "pubs"

// Open connects to the database at url (a PostgreSQL URL or key=value
// string, with libpq's parameters such as sslmode and pgxpool's such as
// pool_max_conns; the password is better in ~/.pgpass or PGPASSWORD),
// creates or upgrades the schema when it is behind, and returns the Store.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	switch {
	case opts.MaxConns > 0:
		cfg.MaxConns = opts.MaxConns
	case !strings.Contains(url, "pool_max_conns"):
		cfg.MaxConns = 8
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	s := &Store{pool: pool}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the pool. Committed transactions are durable already.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

func (s *Store) migrate(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return s.fail(err)
	}
	defer conn.Release()
	// A database at this version (or a newer one, during a rolling
	// upgrade) is used as it is: the DDL below takes table locks that
	// would stall the other instances' writes while one (re)starts.
	current := func() bool {
		var v int
		err := conn.QueryRow(ctx, "SELECT max(version) FROM pubsub_schema").Scan(&v)
		return err == nil && v >= schemaVersion
	}
	if current() {
		return nil
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", schemaLock); err != nil {
		return s.fail(err)
	}
	defer conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", schemaLock)
	if current() { // another instance did it while this one waited
		return nil
	}
	if _, err := conn.Exec(ctx, schema()); err != nil {
		return fmt.Errorf("pgstore: creating the schema: %w", s.fail(err))
	}
	return nil
}

// schemaVersion is the version of schema(), kept in pubsub_schema.
const schemaVersion = 2

// schema is the DDL, idempotent. The costs of pubsub.Usage are built into
// the triggers.
func schema() string {
	return fmt.Sprintf(`
CREATE SEQUENCE IF NOT EXISTS pubsub_item_seq;
CREATE SEQUENCE IF NOT EXISTS pubsub_ord_seq;
CREATE TABLE IF NOT EXISTS pubsub_nodes (
	service text COLLATE "C" NOT NULL, node text COLLATE "C" NOT NULL,
	config jsonb NOT NULL, created bigint NOT NULL, creator text NOT NULL, expiring boolean NOT NULL,
	item_count bigint NOT NULL DEFAULT 0, item_bytes bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (service, node));
DO $$
BEGIN
	-- A database made before the item counters: add and fill them.
	IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'pubsub_nodes' AND column_name = 'item_count') THEN
		ALTER TABLE pubsub_nodes ADD COLUMN item_count bigint NOT NULL DEFAULT 0, ADD COLUMN item_bytes bigint NOT NULL DEFAULT 0;
		UPDATE pubsub_nodes n SET item_count = i.c, item_bytes = i.b FROM
			(SELECT service, node, count(*) AS c, sum(octet_length(payload)) AS b FROM pubsub_items GROUP BY service, node) i
			WHERE n.service = i.service AND n.node = i.node;
	END IF;
END $$;
CREATE INDEX IF NOT EXISTS pubsub_nodes_creator ON pubsub_nodes (creator);
CREATE INDEX IF NOT EXISTS pubsub_nodes_expiring ON pubsub_nodes (expiring) WHERE expiring;
CREATE TABLE IF NOT EXISTS pubsub_affiliations (
	service text COLLATE "C" NOT NULL, node text COLLATE "C" NOT NULL, jid text NOT NULL,
	affiliation text NOT NULL, ord bigint NOT NULL DEFAULT nextval('pubsub_ord_seq'),
	PRIMARY KEY (service, node, jid),
	FOREIGN KEY (service, node) REFERENCES pubsub_nodes ON DELETE CASCADE);
CREATE INDEX IF NOT EXISTS pubsub_affiliations_jid ON pubsub_affiliations (jid, service);
CREATE TABLE IF NOT EXISTS pubsub_subscriptions (
	service text COLLATE "C" NOT NULL, node text COLLATE "C" NOT NULL, subid text NOT NULL,
	jid text NOT NULL, bare text NOT NULL, state text NOT NULL, options jsonb NOT NULL,
	created bigint NOT NULL, ord bigint NOT NULL DEFAULT nextval('pubsub_ord_seq'),
	PRIMARY KEY (service, node, subid),
	FOREIGN KEY (service, node) REFERENCES pubsub_nodes ON DELETE CASCADE);
CREATE INDEX IF NOT EXISTS pubsub_subscriptions_bare ON pubsub_subscriptions (bare, service);
CREATE TABLE IF NOT EXISTS pubsub_items (
	service text COLLATE "C" NOT NULL, node text COLLATE "C" NOT NULL, id text NOT NULL,
	seq bigint NOT NULL, publisher text NOT NULL, published bigint NOT NULL, payload text NOT NULL,
	PRIMARY KEY (service, node, id),
	FOREIGN KEY (service, node) REFERENCES pubsub_nodes ON DELETE CASCADE);
CREATE UNIQUE INDEX IF NOT EXISTS pubsub_items_seq ON pubsub_items (service, node, seq);
CREATE TABLE IF NOT EXISTS pubsub_usage (
	shard int PRIMARY KEY, nodes bigint NOT NULL DEFAULT 0, items bigint NOT NULL DEFAULT 0,
	subs bigint NOT NULL DEFAULT 0, item_bytes bigint NOT NULL DEFAULT 0, bytes bigint NOT NULL DEFAULT 0);
INSERT INTO pubsub_usage (shard) SELECT generate_series(0, %d - 1) ON CONFLICT DO NOTHING;

CREATE OR REPLACE FUNCTION pubsub_count() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	sh int := pg_backend_pid() %% %d;
	d int; r record; n bigint := 0; it bigint := 0; sb bigint := 0; ib bigint := 0; b bigint := 0; pb bigint := 0;
BEGIN
	FOR d IN SELECT unnest(CASE TG_OP WHEN 'INSERT' THEN ARRAY[1] WHEN 'DELETE' THEN ARRAY[-1] ELSE ARRAY[-1, 1] END) LOOP
		IF d = 1 THEN r := NEW; ELSE r := OLD; END IF;
		CASE TG_TABLE_NAME
		WHEN 'pubsub_nodes' THEN
			n := n + d; b := b + d * (%d + octet_length(r.node));
		WHEN 'pubsub_affiliations' THEN
			b := b + d * (%d + octet_length(r.jid));
		WHEN 'pubsub_subscriptions' THEN
			sb := sb + d; b := b + d * (%d + octet_length(r.jid));
		WHEN 'pubsub_items' THEN
			it := it + d; ib := ib + d * (octet_length(r.id) + octet_length(r.payload)); pb := pb + d * octet_length(r.payload);
			b := b + d * (%d + octet_length(r.id) + octet_length(r.payload));
		END CASE;
	END LOOP;
	UPDATE pubsub_usage SET nodes = nodes + n, items = items + it, subs = subs + sb,
		item_bytes = item_bytes + ib, bytes = bytes + b WHERE shard = sh;
	IF TG_TABLE_NAME = 'pubsub_items' THEN
		-- The node's row is locked by the transaction already (and gone
		-- in a cascading delete, which this leaves alone).
		UPDATE pubsub_nodes SET item_count = item_count + it, item_bytes = item_bytes + pb
			WHERE service = r.service AND node = r.node;
	END IF;
	RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER pubsub_nodes_count AFTER INSERT OR DELETE ON pubsub_nodes
	FOR EACH ROW EXECUTE FUNCTION pubsub_count();
CREATE OR REPLACE TRIGGER pubsub_affiliations_count AFTER INSERT OR UPDATE OR DELETE ON pubsub_affiliations
	FOR EACH ROW EXECUTE FUNCTION pubsub_count();
CREATE OR REPLACE TRIGGER pubsub_subscriptions_count AFTER INSERT OR UPDATE OR DELETE ON pubsub_subscriptions
	FOR EACH ROW EXECUTE FUNCTION pubsub_count();
CREATE OR REPLACE TRIGGER pubsub_items_count AFTER INSERT OR UPDATE OR DELETE ON pubsub_items
	FOR EACH ROW EXECUTE FUNCTION pubsub_count();
CREATE TABLE IF NOT EXISTS pubsub_schema (version int NOT NULL);
DELETE FROM pubsub_schema;
INSERT INTO pubsub_schema VALUES (%d);
`, usageShards, usageShards, pubsub.CostNode, pubsub.CostAffiliation, pubsub.CostSubscription, pubsub.CostItem, schemaVersion)
}

// Read runs fn in a read-only transaction on one snapshot.
func (s *Store) Read(ctx context.Context, fn func(pubsub.Tx) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return s.fail(err)
	}
	defer tx.Rollback(context.Background())
	t := &txn{ctx: ctx, tx: tx, ro: true}
	if err := fn(t); err != nil {
		return s.failTx(t, err)
	}
	if t.err != nil {
		return s.fail(t.err)
	}
	return s.fail(tx.Commit(ctx))
}

// Write runs fn in a read-write transaction and commits it; it returns
// once COMMIT has (the wait it returns has nothing left to wait for).
func (s *Store) Write(ctx context.Context, fn func(pubsub.Tx) error) (func() error, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return nil, s.fail(err)
	}
	defer tx.Rollback(context.Background())
	t := &txn{ctx: ctx, tx: tx, locked: map[pubsub.Key]bool{}}
	if err := fn(t); err != nil {
		return nil, s.failTx(t, err)
	}
	if t.err != nil {
		return nil, s.fail(t.err)
	}
	if err := tx.Commit(ctx); err != nil {
		var pe *pgconn.PgError
		if !errors.As(err, &pe) && !pgconn.SafeToRetry(err) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			// The COMMIT was sent and no answer came back: it may have
			// been made. Not ErrUnavailable ("try again later"): the
			// service answers internal-server-error.
			return nil, fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
		}
		return nil, s.fail(err)
	}
	return noWait, nil
}

func noWait() error { return nil }

// failTx returns fn's error, or the database error behind it.
func (s *Store) failTx(t *txn, err error) error {
	if t.err != nil {
		return s.fail(t.err)
	}
	return err
}

// fail maps a database error to the Store's errors (see the package
// documentation).
func (s *Store) fail(err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "40001" || pe.Code == "40P01":
			return fmt.Errorf("%w: %s", pubsub.ErrConflict, pe.Message)
		case pe.Code == "23505" && strings.Contains(pe.ConstraintName, "nodes"):
			return fmt.Errorf("%w: %s", pubsub.ErrExists, pe.Message)
		case strings.HasPrefix(pe.Code, "08"), strings.HasPrefix(pe.Code, "57P"), pe.Code == "53300":
			// Connection exceptions, admin shutdown / crash shutdown /
			// cannot connect now (starting up), too many connections.
			return fmt.Errorf("%w: %s", pubsub.ErrUnavailable, pe.Message)
		}
		return fmt.Errorf("pgstore: %w", err)
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.As(err, &ce), errors.As(err, &ne), pgconn.SafeToRetry(err), isClosedConn(err):
		return fmt.Errorf("%w: %w", pubsub.ErrUnavailable, err)
	}
	return fmt.Errorf("pgstore: %w", err)
}

func isClosedConn(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "conn closed") || strings.Contains(msg, "unexpected EOF") ||
		strings.Contains(msg, "connection reset") || strings.Contains(msg, "broken pipe")
}

// txn is one transaction. A database error is kept in err: PostgreSQL has
// aborted the transaction, so nothing more is sent and the transaction
// fails with it.
type txn struct {
	ctx    context.Context
	tx     pgx.Tx
	ro     bool
	locked map[pubsub.Key]bool // node rows locked by this (write) transaction
	err    error
}

func (t *txn) setErr(err error) error {
	if t.err == nil {
		t.err = err
	}
	return err
}

func (t *txn) exec(sql string, args ...any) (pgconn.CommandTag, error) {
	if t.err != nil {
		return pgconn.CommandTag{}, t.err
	}
	tag, err := t.tx.Exec(t.ctx, sql, args...)
	if err != nil {
		return tag, t.setErr(err)
	}
	return tag, nil
}

func (t *txn) query(sql string, args ...any) (pgx.Rows, error) {
	if t.err != nil {
		return nil, t.err
	}
	rows, err := t.tx.Query(t.ctx, sql, args...)
	if err != nil {
		return nil, t.setErr(err)
	}
	return rows, nil
}

// row scans one row; found is false when there is none.
func (t *txn) row(dst []any, sql string, args ...any) (found bool, err error) {
	if t.err != nil {
		return false, t.err
	}
	err = t.tx.QueryRow(t.ctx, sql, args...).Scan(dst...)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return false, nil
	case err != nil:
		return false, t.setErr(err)
	}
	return true, nil
}

func (t *txn) writable() error {
	if t.ro {
		return pubsub.ErrReadOnly
	}
	return nil
}

// lock locks the node's row for the rest of a write transaction (first
// use), and reports whether the node exists; in a read transaction it only
// checks that.
func (t *txn) lock(k pubsub.Key) (bool, error) {
	if t.ro {
		return t.row([]any{new(int)}, "SELECT 1 FROM pubsub_nodes WHERE service = $1 AND node = $2", k.Service, k.Node)
	}
	if t.locked[k] {
		return true, nil
	}
	ok, err := t.row([]any{new(int)}, "SELECT 1 FROM pubsub_nodes WHERE service = $1 AND node = $2 FOR UPDATE", k.Service, k.Node)
	if ok {
		t.locked[k] = true
	}
	return ok, err
}

// need is lock for an operation on an existing node.
func (t *txn) need(k pubsub.Key) error {
	ok, err := t.lock(k)
	switch {
	case err != nil:
		return err
	case !ok:
		return pubsub.ErrNotFound
	}
	return nil
}

func nanos(tm time.Time) int64 { return tm.UnixNano() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

const nodeCols = "service, node, config, created, creator"

func scanNode(rows pgx.CollectableRow) (*pubsub.Node, error) {
	var n pubsub.Node
	var cfg []byte
	var created int64
	if err := rows.Scan(&n.Service, &n.Node, &cfg, &created, &n.Creator); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(cfg, &n.Config); err != nil {
		return nil, fmt.Errorf("pgstore: node %q config: %w", n.Node, err)
	}
	n.Created = fromNanos(created)
	return &n, nil
}

// collect runs a query and collects its rows with scan.
func collect[T any](t *txn, scan pgx.RowToFunc[T], sql string, args ...any) ([]T, error) {
	rows, err := t.query(sql, args...)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, scan)
	if err != nil {
		return nil, t.setErr(err)
	}
	return out, nil
}

func (t *txn) Node(k pubsub.Key) (*pubsub.Node, error) {
	q := "SELECT " + nodeCols + " FROM pubsub_nodes WHERE service = $1 AND node = $2"
	if !t.ro {
		// Locked: what the transaction reads of it stays true until it
		// commits.
		q += " FOR UPDATE"
	}
	ns, err := collect(t, scanNode, q, k.Service, k.Node)
	if err != nil {
		return nil, err
	}
	if len(ns) == 0 {
		return nil, pubsub.ErrNotFound
	}
	if !t.ro {
		t.locked[k] = true
	}
	return ns[0], nil
}

func (t *txn) Nodes(service string, p pubsub.Page) ([]*pubsub.Node, error) {
	limit := any(nil)
	if p.Limit > 0 {
		limit = p.Limit
	}
	if !p.Backward {
		return collect(t, scanNode, "SELECT "+nodeCols+" FROM pubsub_nodes WHERE service = $1 AND node > $2 ORDER BY node LIMIT $3",
			service, p.After, limit)
	}
	q := "SELECT " + nodeCols + " FROM (SELECT * FROM pubsub_nodes WHERE service = $1 AND ($2 = '' OR node < $2) ORDER BY node DESC LIMIT $3) AS last ORDER BY node"
	return collect(t, scanNode, q, service, p.After, limit)
}

func (t *txn) CountNodes(service string) (int, error) {
	var n int
	_, err := t.row([]any{&n}, "SELECT count(*) FROM pubsub_nodes WHERE service = $1", service)
	return n, err
}

func scanKey(row pgx.CollectableRow) (pubsub.Key, error) {
	var k pubsub.Key
	err := row.Scan(&k.Service, &k.Node)
	return k, err
}

func (t *txn) NodesCreatedBy(creator string) ([]pubsub.Key, error) {
	return collect(t, scanKey, "SELECT service, node FROM pubsub_nodes WHERE creator = $1", creator)
}

func (t *txn) ExpiringNodes() ([]pubsub.Key, error) {
	return collect(t, scanKey, "SELECT service, node FROM pubsub_nodes WHERE expiring")
}

func (t *txn) CreateNode(n *pubsub.Node) error {
	if err := t.writable(); err != nil {
		return err
	}
	cfg, err := json.Marshal(n.Config)
	if err != nil {
		return err
	}
	// A concurrent create of the same node waits here for the other
	// transaction, then finds the row (ON CONFLICT) once it committed.
	tag, err := t.exec("INSERT INTO pubsub_nodes (service, node, config, created, creator, expiring) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
		n.Service, n.Node, cfg, nanos(n.Created), n.Creator, n.Config.ItemExpire > 0)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return pubsub.ErrExists
	}
	if _, err := t.lock(n.Key); err != nil {
		return err
	}
	return nil
}

func (t *txn) SetConfig(k pubsub.Key, c pubsub.Config) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := t.need(k); err != nil {
		return err
	}
	cfg, err := json.Marshal(c)
	if err != nil {
		return err
	}
	_, err = t.exec("UPDATE pubsub_nodes SET config = $3, expiring = $4 WHERE service = $1 AND node = $2", k.Service, k.Node, cfg, c.ItemExpire > 0)
	return err
}

func (t *txn) DeleteNode(k pubsub.Key) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := t.need(k); err != nil {
		return err
	}
	_, err := t.exec("DELETE FROM pubsub_nodes WHERE service = $1 AND node = $2", k.Service, k.Node)
	delete(t.locked, k)
	return err
}

func (t *txn) Affiliation(k pubsub.Key, bare string) (string, error) {
	var aff *string
	ok, err := t.row([]any{&aff}, `SELECT a.affiliation FROM pubsub_nodes n
		LEFT JOIN pubsub_affiliations a ON a.service = n.service AND a.node = n.node AND a.jid = $3
		WHERE n.service = $1 AND n.node = $2`, k.Service, k.Node, bare)
	switch {
	case err != nil:
		return "", err
	case !ok:
		return "", pubsub.ErrNotFound
	case aff == nil:
		return pubsub.AffNone, nil
	}
	return *aff, nil
}

func scanAff(row pgx.CollectableRow) (pubsub.Affiliation, error) {
	var a pubsub.Affiliation
	err := row.Scan(&a.Service, &a.Node, &a.JID, &a.Affiliation)
	return a, err
}

func (t *txn) Affiliations(k pubsub.Key) ([]pubsub.Affiliation, error) {
	if err := t.need(k); err != nil {
		return nil, err
	}
	return collect(t, scanAff, "SELECT service, node, jid, affiliation FROM pubsub_affiliations WHERE service = $1 AND node = $2 ORDER BY ord", k.Service, k.Node)
}

func (t *txn) AffiliationsOf(service, bare string) ([]pubsub.Affiliation, error) {
	return collect(t, scanAff, "SELECT service, node, jid, affiliation FROM pubsub_affiliations WHERE service = $1 AND jid = $2 ORDER BY node", service, bare)
}

func (t *txn) SetAffiliation(a pubsub.Affiliation) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := t.need(a.Key); err != nil {
		return err
	}
	if a.Affiliation == pubsub.AffNone {
		_, err := t.exec("DELETE FROM pubsub_affiliations WHERE service = $1 AND node = $2 AND jid = $3", a.Service, a.Node, a.JID)
		return err
	}
	_, err := t.exec(`INSERT INTO pubsub_affiliations (service, node, jid, affiliation) VALUES ($1, $2, $3, $4)
		ON CONFLICT (service, node, jid) DO UPDATE SET affiliation = EXCLUDED.affiliation`, a.Service, a.Node, a.JID, a.Affiliation)
	return err
}

const subCols = "service, node, jid, subid, state, options, created"

func scanSub(row pgx.CollectableRow) (pubsub.Subscription, error) {
	var s pubsub.Subscription
	var opts []byte
	var created int64
	if err := row.Scan(&s.Service, &s.Node, &s.JID, &s.SubID, &s.State, &opts, &created); err != nil {
		return s, err
	}
	if err := json.Unmarshal(opts, &s.Options); err != nil {
		return s, fmt.Errorf("pgstore: subscription options: %w", err)
	}
	s.Created = fromNanos(created)
	return s, nil
}

func (t *txn) Subscriptions(k pubsub.Key) ([]pubsub.Subscription, error) {
	if err := t.need(k); err != nil {
		return nil, err
	}
	return collect(t, scanSub, "SELECT "+subCols+" FROM pubsub_subscriptions WHERE service = $1 AND node = $2 ORDER BY ord", k.Service, k.Node)
}

func (t *txn) SubscriptionsOf(service, bare string) ([]pubsub.Subscription, error) {
	return collect(t, scanSub, "SELECT "+subCols+" FROM pubsub_subscriptions WHERE service = $1 AND bare = $2 ORDER BY node, ord", service, bare)
}

// bareOf returns the bare form of a JID in canonical form.
func bareOf(j string) string {
	if i := strings.IndexByte(j, '/'); i >= 0 {
		return j[:i]
	}
	return j
}

func (t *txn) PutSubscription(s pubsub.Subscription) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := t.need(s.Key); err != nil {
		return err
	}
	opts, err := json.Marshal(s.Options)
	if err != nil {
		return err
	}
	_, err = t.exec(`INSERT INTO pubsub_subscriptions (service, node, subid, jid, bare, state, options, created)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (service, node, subid) DO UPDATE SET jid = EXCLUDED.jid, bare = EXCLUDED.bare,
			state = EXCLUDED.state, options = EXCLUDED.options, created = EXCLUDED.created`,
		s.Service, s.Node, s.SubID, s.JID, bareOf(s.JID), s.State, opts, nanos(s.Created))
	return err
}

func (t *txn) DeleteSubscription(k pubsub.Key, subid string) (bool, error) {
	if err := t.writable(); err != nil {
		return false, err
	}
	if err := t.need(k); err != nil {
		return false, err
	}
	tag, err := t.exec("DELETE FROM pubsub_subscriptions WHERE service = $1 AND node = $2 AND subid = $3", k.Service, k.Node, subid)
	return tag.RowsAffected() > 0, err
}

const itemCols = "id, publisher, published, seq, octet_length(payload)"

func scanItem(withPayload bool) pgx.RowToFunc[*pubsub.Item] {
	return func(row pgx.CollectableRow) (*pubsub.Item, error) {
		var it pubsub.Item
		var published int64
		dst := []any{&it.ID, &it.Publisher, &published, &it.Seq, &it.Size}
		if withPayload {
			dst = append(dst, &it.Payload)
		}
		if err := row.Scan(dst...); err != nil {
			return nil, err
		}
		it.Time = fromNanos(published)
		return &it, nil
	}
}

func (t *txn) Item(k pubsub.Key, id string) (*pubsub.Item, error) {
	items, err := collect(t, scanItem(true), "SELECT "+itemCols+", payload FROM pubsub_items WHERE service = $1 AND node = $2 AND id = $3", k.Service, k.Node, id)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, pubsub.ErrNotFound
	}
	return items[0], nil
}

func (t *txn) Items(k pubsub.Key, q pubsub.ItemQuery) ([]*pubsub.Item, error) {
	if err := t.need(k); err != nil {
		return nil, err
	}
	cols := itemCols
	if q.Payloads {
		cols += ", payload"
	}
	scan := scanItem(q.Payloads)
	if q.IDs != nil {
		items, err := collect(t, scan, "SELECT "+cols+" FROM pubsub_items WHERE service = $1 AND node = $2 AND id = ANY($3)", k.Service, k.Node, q.IDs)
		if err != nil {
			return nil, err
		}
		byID := make(map[string]*pubsub.Item, len(items))
		for _, it := range items {
			byID[it.ID] = it
		}
		var out []*pubsub.Item
		for _, id := range q.IDs {
			if it, ok := byID[id]; ok {
				out = append(out, it)
				delete(byID, id)
			}
		}
		return out, nil
	}
	order, cmp := "DESC", "<"
	if q.OldestFirst {
		order, cmp = "ASC", ">"
	}
	limit := any(nil)
	if q.Limit > 0 {
		limit = q.Limit
	}
	if q.After == "" {
		return collect(t, scan, "SELECT "+cols+" FROM pubsub_items WHERE service = $1 AND node = $2 ORDER BY seq "+order+" LIMIT $3",
			k.Service, k.Node, limit)
	}
	var after int64
	ok, err := t.row([]any{&after}, "SELECT seq FROM pubsub_items WHERE service = $1 AND node = $2 AND id = $3", k.Service, k.Node, q.After)
	switch {
	case err != nil:
		return nil, err
	case !ok:
		return nil, pubsub.ErrNotFound
	}
	return collect(t, scan, "SELECT "+cols+" FROM pubsub_items WHERE service = $1 AND node = $2 AND seq "+cmp+" $3 ORDER BY seq "+order+" LIMIT $4",
		k.Service, k.Node, after, limit)
}

func (t *txn) ItemStats(k pubsub.Key) (int, int64, error) {
	q := "SELECT item_count, item_bytes FROM pubsub_nodes WHERE service = $1 AND node = $2"
	if !t.ro && !t.locked[k] {
		q += " FOR UPDATE"
	}
	var n int
	var b int64
	ok, err := t.row([]any{&n, &b}, q, k.Service, k.Node)
	switch {
	case err != nil:
		return 0, 0, err
	case !ok:
		return 0, 0, pubsub.ErrNotFound
	}
	if !t.ro {
		t.locked[k] = true
	}
	return n, b, err
}

func (t *txn) PutItem(k pubsub.Key, it *pubsub.Item) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := t.need(k); err != nil {
		return err
	}
	_, err := t.row([]any{&it.Seq}, `INSERT INTO pubsub_items (service, node, id, seq, publisher, published, payload)
		VALUES ($1, $2, $3, nextval('pubsub_item_seq'), $4, $5, $6)
		ON CONFLICT (service, node, id) DO UPDATE SET seq = nextval('pubsub_item_seq'), publisher = EXCLUDED.publisher,
			published = EXCLUDED.published, payload = EXCLUDED.payload
		RETURNING seq`, k.Service, k.Node, it.ID, it.Publisher, nanos(it.Time), it.Payload)
	if err == nil {
		it.Size = len(it.Payload)
	}
	return err
}

func (t *txn) DeleteItem(k pubsub.Key, id string) (bool, error) {
	if err := t.writable(); err != nil {
		return false, err
	}
	if err := t.need(k); err != nil {
		return false, err
	}
	tag, err := t.exec("DELETE FROM pubsub_items WHERE service = $1 AND node = $2 AND id = $3", k.Service, k.Node, id)
	return tag.RowsAffected() > 0, err
}

func (t *txn) Purge(k pubsub.Key) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := t.need(k); err != nil {
		return err
	}
	_, err := t.exec("DELETE FROM pubsub_items WHERE service = $1 AND node = $2", k.Service, k.Node)
	return err
}

func (t *txn) Usage() (pubsub.Usage, error) {
	var u pubsub.Usage
	var nodes, items, subs int64
	_, err := t.row([]any{&nodes, &items, &subs, &u.ItemBytes, &u.Bytes},
		"SELECT coalesce(sum(nodes), 0), coalesce(sum(items), 0), coalesce(sum(subs), 0), coalesce(sum(item_bytes), 0), coalesce(sum(bytes), 0) FROM pubsub_usage")
	u.Nodes, u.Items, u.Subscriptions = int(nodes), int(items), int(subs)
	return u, err
}

// Command ferretdb runs embedded FerretDB for local tests, on its SQLite handler (files under
// -data-dir) or its PostgreSQL handler (-handler postgresql -postgresql-url ...).
//
// FerretDB's own CLI can't be `go install`ed (it panics without build/version/version.txt);
// the embeddable package skips that check because our main module isn't FerretDB.
//
// FerretDB 1.x applies updates as read-modify-write outside a transaction (with either handler:
// it reads the matching documents, changes them in Go, then writes them back by _id), so
// concurrent $inc / conditional updates / findOneAndUpdate on one document from different
// connections lose writes. FerretDB therefore listens on a private Unix socket and this program
// fronts it with a TCP proxy that orders requests (see serialize): `-serialize all` lets one request
// at a time through; `-serialize writes` lets reads and inserts run concurrently and orders
// update/delete/findAndModify per collection (anything else runs alone).
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func main() {
	port := flag.String("port", env("FERRETDB_PORT", "27018"), "TCP port to listen on")
	host := flag.String("host", env("FERRETDB_HOST", "127.0.0.1"), "address to listen on")
	handler := flag.String("handler", env("FERRETDB_HANDLER", "sqlite"), "sqlite or postgresql")
	dataDir := flag.String("data-dir", env("FERRETDB_DATA_DIR", "data"), "directory for SQLite databases (sqlite handler)")
	pgURL := flag.String("postgresql-url", env("FERRETDB_POSTGRESQL_URL", ""), "PostgreSQL URL (postgresql handler)")
	logLevel := flag.String("log-level", env("FERRETDB_LOG_LEVEL", "warn"), "debug, info, warn or error")
	serialFlag := flag.String("serialize", env("FERRETDB_SERIALIZE", "all"), "all (one request at a time), writes (order writes per collection) or none; true/false mean all/none")
	flag.Parse()

	mode, ok := map[string]string{"all": "all", "true": "all", "writes": "writes", "none": "none", "false": "none"}[*serialFlag]
	if !ok {
		fatal(slog.Default(), "bad -serialize", fmt.Errorf("%q: want all, writes or none", *serialFlag))
	}
	serial := mode != "none"

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fatal(slog.Default(), "bad -log-level", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	cfg := ferretdb.Config{Logger: logger, Handler: *handler}
	switch *handler {
	case "sqlite":
		dir, err := filepath.Abs(*dataDir)
		if err == nil {
			err = os.MkdirAll(dir, 0o755)
		}
		if err != nil {
			fatal(logger, "data dir", err)
		}
		cfg.SQLiteURL = "file:" + dir + "/" // must be an existing directory ending with "/"
	case "postgresql":
		if *pgURL == "" {
			fatal(logger, "-postgresql-url", errors.New("required with -handler postgresql"))
		}
		cfg.PostgreSQLURL = *pgURL
	default:
		fatal(logger, "bad -handler", fmt.Errorf("%q: want sqlite or postgresql", *handler))
	}

	addr := net.JoinHostPort(*host, *port)
	listener := ferretdb.ListenerConfig{TCP: addr}
	if serial {
		// Short private path: Unix socket paths are limited to ~108 bytes.
		sockDir, err := os.MkdirTemp("", "ferretdb-")
		if err != nil {
			fatal(logger, "socket dir", err)
		}
		defer os.RemoveAll(sockDir)
		listener = ferretdb.ListenerConfig{Unix: filepath.Join(sockDir, "s.sock")}
	}

	cfg.Listener = listener
	f, err := ferretdb.New(&cfg)
	if err != nil {
		fatal(logger, "ferretdb.New", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	runErr := make(chan error, 1)
	go func() { runErr <- f.Run(ctx) }()

	if serial {
		// Accept TCP clients only once FerretDB's socket is up, so "port open" means ready.
		if err := waitDial(listener.Unix); err != nil {
			fatal(logger, "ferretdb socket", err)
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			fatal(logger, "listen", err)
		}
		go func() { <-ctx.Done(); l.Close() }()
		go serialize(l, listener.Unix, mode == "writes", logger)
	}

	// Printed at info level regardless of -log-level so start scripts can wait for it.
	slog.New(slog.NewTextHandler(os.Stderr, nil)).Info("listening", "uri", "mongodb://"+addr+"/", "handler", *handler, "serialize", mode)
	if err := <-runErr; err != nil {
		fatal(logger, "run", err)
	}
}

func waitDial(sock string) error {
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var c net.Conn
		if c, err = net.Dial("unix", sock); err == nil {
			return c.Close()
		}
	}
	return err
}

func fatal(l *slog.Logger, msg string, err error) {
	l.Error(msg, "error", err)
	os.Exit(1)
}

// serialize proxies MongoDB wire protocol connections from l to the Unix socket. Each request
// holds its lock (see locks.acquire) until its reply has been forwarded.
func serialize(l net.Listener, sock string, writesOnly bool, logger *slog.Logger) {
	locks := &locks{writesOnly: writesOnly, colls: map[string]*sync.Mutex{}}
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			s, err := net.Dial("unix", sock)
			if err != nil {
				logger.Error("dial ferretdb", "error", err)
				return
			}
			defer s.Close()

			replied := make(chan struct{}, 1)
			done := make(chan struct{})
			go func() { // server -> client
				defer close(done)
				defer c.Close()
				for {
					m, err := readMsg(s)
					if err == nil {
						_, err = c.Write(m)
					}
					if err != nil {
						return
					}
					select {
					case replied <- struct{}{}:
					default:
					}
				}
			}()

			for { // client -> server, under the request's lock until its reply is back
				m, err := readMsg(c)
				if err != nil {
					return
				}
				release := locks.acquire(m)
				_, err = s.Write(m)
				if err == nil && wantsReply(m) {
					select {
					case <-replied:
					case <-done:
						err = io.EOF
					}
				}
				release()
				if err != nil {
					return
				}
			}
		}()
	}
}

// locks orders requests. All mode: one global lock for every request. Writes mode: reads and
// inserts (atomic in the backend: one statement, a unique _id index) take the global lock shared;
// update, delete and findAndModify (read-modify-write in FerretDB) take it shared plus their
// collection's mutex; anything else (DDL, unknown or unparsable requests) takes it exclusively.
// Collections are keyed by name alone, so two databases' same-named collections share a mutex:
// more ordering than needed, never less.
type locks struct {
	writesOnly bool
	global     sync.RWMutex
	mu         sync.Mutex
	colls      map[string]*sync.Mutex
}

var (
	readCommands = map[string]bool{
		"find": true, "aggregate": true, "count": true, "distinct": true, "getMore": true, "killCursors": true,
		"hello": true, "isMaster": true, "ismaster": true, "ping": true, "buildInfo": true, "buildinfo": true,
		"listCollections": true, "listDatabases": true, "listIndexes": true, "collStats": true, "dbStats": true,
		"explain": true, "endSessions": true, "getParameter": true, "serverStatus": true, "connectionStatus": true,
		"saslStart": true, "saslContinue": true, "whatsmyuri": true, "getLog": true, "hostInfo": true,
		"insert": true,
	}
	rmwCommands = map[string]bool{"update": true, "delete": true, "findAndModify": true, "findandmodify": true}
)

func (l *locks) acquire(m []byte) (release func()) {
	if !l.writesOnly {
		l.global.Lock()
		return l.global.Unlock
	}
	cmd, coll := command(m)
	switch {
	case readCommands[cmd]:
		l.global.RLock()
		return l.global.RUnlock
	case rmwCommands[cmd] && coll != "":
		l.global.RLock()
		l.mu.Lock()
		c := l.colls[coll]
		if c == nil {
			c = new(sync.Mutex)
			l.colls[coll] = c
		}
		l.mu.Unlock()
		c.Lock()
		return func() { c.Unlock(); l.global.RUnlock() }
	default:
		l.global.Lock()
		return l.global.Unlock
	}
}

// command returns an OP_MSG request's command name (its body's first key) and, when that key's
// value is a string, the collection it names; "" when m is not an OP_MSG or does not parse.
func command(m []byte) (cmd, coll string) {
	const opMsg = 2013
	if len(m) < 21 || binary.LittleEndian.Uint32(m[12:]) != opMsg {
		return "", ""
	}
	for i := 20; i < len(m); { // sections after the 4-byte flags
		kind := m[i]
		i++
		if i+4 > len(m) {
			return "", ""
		}
		size := int(binary.LittleEndian.Uint32(m[i:]))
		if size < 5 || i+size > len(m) {
			return "", ""
		}
		if kind == 1 { // document sequence: skip it
			i += size
			continue
		}
		if kind != 0 {
			return "", ""
		}
		doc := m[i : i+size]
		typ := doc[4]
		end := bytes.IndexByte(doc[5:], 0)
		if end < 0 {
			return "", ""
		}
		cmd = string(doc[5 : 5+end])
		v := doc[5+end+1:]
		if typ == 0x02 && len(v) >= 4 { // string: int32 length (with its NUL), bytes
			n := int(binary.LittleEndian.Uint32(v))
			if n >= 1 && 4+n <= len(v) {
				coll = string(v[4 : 4+n-1])
			}
		}
		return cmd, coll
	}
	return "", ""
}

// readMsg reads one wire message: int32 total length (little-endian) followed by the rest.
func readMsg(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint32(hdr[:])
	if n < 16 || n > 64<<20 {
		return nil, errors.New(fmt.Sprint("bad message length ", n))
	}
	m := make([]byte, n)
	copy(m, hdr[:])
	_, err := io.ReadFull(r, m[4:])
	return m, err
}

// wantsReply: OP_MSG with the moreToCome flag (fire-and-forget) gets no reply; OP_QUERY always does.
func wantsReply(m []byte) bool {
	switch binary.LittleEndian.Uint32(m[12:16]) {
	case 2013: // OP_MSG
		return len(m) >= 20 && binary.LittleEndian.Uint32(m[16:20])&2 == 0
	case 2004, 2012: // OP_QUERY, OP_COMPRESSED
		return true
	default:
		return false
	}
}

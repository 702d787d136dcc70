// Command ferretdb runs embedded FerretDB (SQLite backend) for local tests.
//
// FerretDB's own CLI can't be `go install`ed (it panics without build/version/version.txt);
// the embeddable package skips that check because our main module isn't FerretDB.
//
// FerretDB 1.x applies updates as read-modify-write outside a transaction, so concurrent
// $inc / conditional updates / findOneAndUpdate on one document from different connections
// lose writes. By default FerretDB therefore listens on a private Unix socket and this program
// fronts it with a TCP proxy that lets one request at a time through (see serialize).
package main

import (
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
	dataDir := flag.String("data-dir", env("FERRETDB_DATA_DIR", "data"), "directory for SQLite databases")
	logLevel := flag.String("log-level", env("FERRETDB_LOG_LEVEL", "warn"), "debug, info, warn or error")
	serial := flag.Bool("serialize", env("FERRETDB_SERIALIZE", "true") == "true", "run one request at a time (makes updates atomic)")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fatal(slog.Default(), "bad -log-level", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	dir, err := filepath.Abs(*dataDir)
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		fatal(logger, "data dir", err)
	}

	addr := net.JoinHostPort(*host, *port)
	listener := ferretdb.ListenerConfig{TCP: addr}
	if *serial {
		// Short private path: Unix socket paths are limited to ~108 bytes.
		sockDir, err := os.MkdirTemp("", "ferretdb-")
		if err != nil {
			fatal(logger, "socket dir", err)
		}
		defer os.RemoveAll(sockDir)
		listener = ferretdb.ListenerConfig{Unix: filepath.Join(sockDir, "s.sock")}
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  listener,
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/", // must be an existing directory ending with "/"
	})
	if err != nil {
		fatal(logger, "ferretdb.New", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	runErr := make(chan error, 1)
	go func() { runErr <- f.Run(ctx) }()

	if *serial {
		// Accept TCP clients only once FerretDB's socket is up, so "port open" means ready.
		if err := waitDial(listener.Unix); err != nil {
			fatal(logger, "ferretdb socket", err)
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			fatal(logger, "listen", err)
		}
		go func() { <-ctx.Done(); l.Close() }()
		go serialize(l, listener.Unix, logger)
	}

	// Printed at info level regardless of -log-level so start scripts can wait for it.
	slog.New(slog.NewTextHandler(os.Stderr, nil)).Info("listening", "uri", "mongodb://"+addr+"/", "serialized", *serial)
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

// serialize proxies MongoDB wire protocol connections from l to the Unix socket,
// holding one global lock from each request until its reply has been forwarded.
func serialize(l net.Listener, sock string, logger *slog.Logger) {
	var mu sync.Mutex
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

			for { // client -> server, one request in flight across all connections
				m, err := readMsg(c)
				if err != nil {
					return
				}
				mu.Lock()
				_, err = s.Write(m)
				if err == nil && wantsReply(m) {
					select {
					case <-replied:
					case <-done:
						err = io.EOF
					}
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
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

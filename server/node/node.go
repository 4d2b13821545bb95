// Package node runs one server process: it wires the config, the ODB, the Python runtime, the cluster member, the
// HTTP API and the pickup watcher, and stops them in order.
package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	"github.com/zato-go/zato/server/api"
	"github.com/zato-go/zato/server/backup"
	"github.com/zato-go/zato/server/cluster"
	"github.com/zato-go/zato/server/config"
	"github.com/zato-go/zato/server/odb"
	"github.com/zato-go/zato/server/pickup"
	"github.com/zato-go/zato/server/procs"
	"github.com/zato-go/zato/server/runtime"
	"github.com/zato-go/zato/server/sources"
	"github.com/zato-go/zato/server/webadmin"
)

// Options of Run.
type Options struct {
	// Ready, if set, is called once the server is live and listening.
	Ready func(url string)
	// Progress, if set, is told of each long step while the server starts (each import), until Ready.
	Progress func(what string)
	// LogTo receives the log as well as logs/server.log (e.g. stderr in the foreground).
	LogTo io.Writer
}

// Run runs the server in dir until ctx ends.
func Run(ctx context.Context, dir string, opts Options) error {
	cfg, err := config.Load(dir)
	if err != nil {
		return err
	}
	if err := config.MkdirLayout(cfg); err != nil {
		return err
	}
	if cfg.MaxProcs > 0 {
		goruntime.GOMAXPROCS(cfg.MaxProcs)
	}
	logFile, err := os.OpenFile(cfg.LogPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	defer logFile.Close()
	var out io.Writer = logFile
	if opts.LogTo != nil {
		out = io.MultiWriter(logFile, opts.LogTo)
	}
	log := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelInfo})).With("server", cfg.Name)
	log.Info("Server starting", "pid", os.Getpid(), "dir", cfg.Dir)

	// Listen first: a port taken by someone else must fail the start before we claim membership.
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen on %s:%d: %w", cfg.Host, cfg.Port, err)
	}
	defer ln.Close()
	// Peers nudge this server with datagrams to the same port number; without the socket they fall back to HTTP.
	nudges, err := net.ListenPacket("udp", ln.Addr().String())
	if err != nil {
		log.Warn("no UDP socket for nudges: peers' changes reach this server through the ODB's change check", "err", err)
		nudges = nil
	} else {
		defer nudges.Close()
	}

	store, err := openODB(ctx, cfg, opts.Progress, log)
	if err != nil {
		return err
	}
	defer store.Close()

	bk, err := backup.New(backup.Config{
		CurrentDir: cfg.CurrentWorkDir, BackupDir: cfg.BackupWorkDir, LastDir: cfg.LastBackupWorkDir,
		History: cfg.BackupHistory, Format: cfg.BackupFormat, Logger: log.With("component", "backup"),
	})
	if err != nil {
		return err
	}
	bkCtx, bkStop := context.WithCancel(context.Background())
	bkDone := make(chan struct{})
	go func() { bk.Run(bkCtx); close(bkDone) }()
	defer func() { bkStop(); <-bkDone }() // finish queued archives before exiting

	peerClient, err := peerHTTPClient(cfg)
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	sourceModules := map[string]string{} // filled below, before the cluster applies anything
	cl := cluster.New(cluster.Config{
		HTTPClient: peerClient,
		Name:       cfg.Name, URL: cfg.PublicURL, Secret: cfg.ClusterSecret, CurrentDir: cfg.CurrentWorkDir, Logger: log,
		MaxPayload: cfg.MaxPayload, BeforeApply: bk.Snapshot, Nudges: nudges, SourceModules: sourceModules,
	}, store, nil) // the runtime comes next: registering first keeps the window in which a deployment misses us short
	// A member from now on, starting: deployments made while the modules load wait for this server rather than
	// give it an offline row.
	if err := cl.Register(runCtx, os.Getpid(), hostname()); err != nil {
		return err
	}
	defer cl.Stopped(context.WithoutCancel(ctx))

	rt, err := runtime.Start(ctx, runtime.Config{
		Python:        cfg.Python,
		Dir:           cfg.Dir + "/" + config.RuntimeRel,
		ModuleDir:     cfg.CurrentWorkDir,
		ExtraPaths:    []string{cfg.ExtraPathsDir},
		ImportTimeout: cfg.ImportTimeout,
		InvokeTimeout: cfg.InvokeTimeout,
		InvokeThreads: cfg.InvokeThreads,
		Workers:       cfg.PythonWorkers,
		MemoryMax:     int64(cfg.MemoryMaxMB) << 20,
		PidsMax:       cfg.PidsMax,
		Logger:        log.With("component", "python"),
		Server:        cfg.Name,
		OnQuarantine:  cl.Quarantined,
	})
	if err != nil {
		return fmt.Errorf("start python runtime: %w", err)
	}
	defer rt.Close()

	srt := &startingRuntime{Runtime: rt, progress: opts.Progress, log: log}
	cl.UseRuntime(srt)

	// service-sources.txt is imported before the hot-deployed modules, as in Zato.
	var results []odb.SourceResult
	for _, r := range sources.Load(ctx, srt, cfg.ServiceSources, cfg.Dir, log.With("component", "sources")) {
		for _, m := range r.Modules {
			sourceModules[m] = r.Entry
		}
		st := "ok"
		if !r.OK {
			st = "failed"
		}
		loaded := r.Modules
		if r.Dotted {
			loaded = []string{r.Entry + ".py"} // as the runtime names a dotted module's services' module
			// acme.crm.services is imported from the package acme: a hot-deployed acme.py, first on sys.path, would
			// take its place for every import of acme made after it (at the next start, for this entry too).
			top, _, _ := strings.Cut(r.Entry, ".")
			sourceModules[top+".py"] = r.Entry
		}
		results = append(results, odb.SourceResult{Server: cfg.Name, Entry: r.Entry, Status: st, Message: r.Message,
			Services: r.Services, Modules: loaded})
	}
	if err := store.SetSourceResults(ctx, cfg.Name, results); err != nil {
		return fmt.Errorf("record service sources: %w", err)
	}

	a := api.New(api.Config{
		Server: cfg.Name, MaxPayload: cfg.MaxPayload, Secret: cfg.ClusterSecret, Logger: log,
		Auth: api.Auth{Username: cfg.Username, Check: func(p string) bool { return config.CheckPassword(cfg.PasswordHash, p) },
			IDEUsername: cfg.IDEUsername, IDECheck: func(p string) bool { return cfg.IDEPasswordHash != "" && config.CheckPassword(cfg.IDEPasswordHash, p) }},
	}, cl, rt)
	a.Handle("/admin/", webadmin.New(webadmin.Config{
		Server: cfg.Name, Logger: log.With("component", "webadmin"), CheckCredentials: a.CheckCredentials, Secure: cfg.TLSCert != "",
	}, a, cl, rt))

	srv := &http.Server{Handler: a, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	serveErr := make(chan error, 1)
	go func() {
		var err error
		if cfg.TLSCert != "" {
			srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
			err = srv.ServeTLS(ln, cfg.TLSCert, cfg.TLSKey)
		} else {
			err = srv.Serve(ln)
		}
		serveErr <- err
	}()

	if err := cl.Start(runCtx, os.Getpid(), hostname()); err != nil {
		return err
	}
	if err := procs.WritePIDFile(cfg.PIDPath); err != nil {
		return err
	}
	defer os.Remove(cfg.PIDPath)
	pw := pickup.New(pickup.Config{
		Dir: cfg.PickupDir, Poll: cfg.PickupPoll, DeleteAfter: cfg.DeleteAfterPickUp, Logger: log.With("component", "pickup"),
	}, cl)
	if err := pw.Start(runCtx); err != nil {
		return fmt.Errorf("pickup dir: %w", err)
	}
	log.Info("Server started", "url", cfg.PublicURL, "pid", os.Getpid(), "odb", cfg.ODBEngine, "max_procs", goruntime.GOMAXPROCS(0))
	srt.live.Store(true)
	if opts.Ready != nil {
		opts.Ready(cfg.PublicURL)
	}

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
	}
	log.Info("Server stopping")
	stopCtx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	cl.Stop(stopCtx)
	_ = srv.Shutdown(stopCtx)
	cancel()
	log.Info("Server stopped")
	return nil
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}

// peerHTTPClient is how this server nudges its peers. With TLS it trusts the system pool, http.tls_ca and this
// server's own certificate (a cluster commonly shares one).
func peerHTTPClient(cfg config.Server) (*http.Client, error) {
	c := &http.Client{Timeout: 2 * time.Second}
	if cfg.TLSCert == "" {
		return c, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	for _, f := range []string{cfg.TLSCert, cfg.TLSCA} {
		if f == "" {
			continue
		}
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", f, err)
		}
		pool.AppendCertsFromPEM(pem)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	c.Transport = tr
	return c, nil
}

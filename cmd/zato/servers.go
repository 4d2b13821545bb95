package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/zato-go/zato/server/config"
	"github.com/zato-go/zato/server/node"
	"github.com/zato-go/zato/server/odb"
	"github.com/zato-go/zato/server/procs"
)

func (a *app) quickstartCmd() *cobra.Command {
	qs := &cobra.Command{Use: "quickstart", Short: "Create environments"}
	var o config.EnvOptions
	var overrides []string
	create := &cobra.Command{
		Use:   "create DIR",
		Short: "Create an environment: the ODB, one directory per server and zato-client.yaml",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Overrides = map[string]string{}
			for _, kv := range overrides {
				k, v, ok := cutEq(kv)
				if !ok {
					return fmt.Errorf("--set %q: want section.key=value", kv)
				}
				o.Overrides[k] = v
			}
			cf, err := config.CreateEnv(args[0], o)
			if err != nil {
				return err
			}
			dsn := o.ODBDSN
			if o.ODBEngine == "" || o.ODBEngine == "sqlite" {
				dsn = filepath.Join(args[0], config.SQLiteFileName)
				o.ODBEngine = "sqlite"
			}
			store, err := odb.Open(cmd.Context(), o.ODBEngine, dsn) // creates the schema
			if err != nil {
				return fmt.Errorf("create ODB: %w", err)
			}
			store.Close()
			abs, _ := filepath.Abs(args[0])
			fmt.Printf("Created an environment with %d servers in %s\n", len(cf.Servers), abs)
			for _, s := range cf.Servers {
				fmt.Printf("  %s  %s  %s\n", s.Name, s.URL, s.Dir)
			}
			fmt.Printf("Client config: %s (user %s)\nStart it with: zato start %s\n",
				filepath.Join(abs, config.ClientFileName), cf.Username, args[0])
			if cf.IDE != nil {
				fmt.Printf("Zato's IDE plug-ins: user %s, password in %s (ide:)\n", cf.IDE.Username, filepath.Join(abs, config.ClientFileName))
			}
			return nil
		},
	}
	f := create.Flags()
	f.IntVar(&o.Servers, "servers", 2, "number of servers")
	f.IntVar(&o.BasePort, "base-port", 17010, "server i listens on base-port+i-1")
	f.StringVar(&o.ODBEngine, "odb", "sqlite", "ODB engine: sqlite or postgresql")
	f.StringVar(&o.ODBDSN, "odb-dsn", "", "PostgreSQL DSN (with --odb postgresql)")
	f.StringArrayVar(&overrides, "set", nil, "section.key=value for every server.conf (repeatable)")
	f.BoolVar(&o.IDEUser, "ide-user", false, "also create Zato's IDE user, ide_publisher, for Zato's own IDE plug-ins (its password goes to zato-client.yaml)")
	qs.AddCommand(create)
	return qs
}

func cutEq(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '=' {
			return s[:i], s[i+1:], true
		}
	}
	return "", "", false
}

func (a *app) startCmd() *cobra.Command {
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "start DIR|SERVER_DIR",
		Short: "Start every server of an environment (or one server) in the background; returns once each is live",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dirs, err := procs.ServerDirs(args[0])
			if err != nil {
				return err
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			type res struct {
				dir, url string
				pid      int
				err      error
			}
			out := make(chan res, len(dirs))
			for _, d := range dirs {
				go func(d string) {
					pid, url, err := procs.Start(cmd.Context(), exe, d, timeout)
					out <- res{d, url, pid, err}
				}(d)
			}
			var failed error
			for range dirs {
				r := <-out
				if errors.Is(r.err, procs.ErrRunning) { // starting what runs is done already, not an error
					fmt.Printf("%s is already running (pid %d)\n", filepath.Base(r.dir), r.pid)
					continue
				}
				if r.err != nil {
					fmt.Fprintf(os.Stderr, "%s: %v\n", filepath.Base(r.dir), r.err)
					failed = exitError{1}
					continue
				}
				fmt.Printf("%s started (pid %d) at %s\n", filepath.Base(r.dir), r.pid, r.url)
			}
			return failed
		},
	}
	c.Flags().DurationVar(&timeout, "timeout", 60*time.Second, "how long to wait for each server")
	return c
}

func (a *app) stopCmd() *cobra.Command {
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "stop DIR|SERVER_DIR",
		Short: "Stop servers gracefully",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dirs, err := procs.ServerDirs(args[0])
			if err != nil {
				return err
			}
			var failed error
			for _, d := range dirs {
				stopped, err := procs.Stop(d, timeout)
				switch {
				case err != nil:
					fmt.Fprintf(os.Stderr, "%s: %v\n", filepath.Base(d), err)
					failed = exitError{1}
				case stopped:
					fmt.Printf("%s stopped\n", filepath.Base(d))
				default:
					fmt.Printf("%s was not running\n", filepath.Base(d))
				}
			}
			return failed
		},
	}
	c.Flags().DurationVar(&timeout, "timeout", 15*time.Second, "how long to wait before killing")
	return c
}

func (a *app) serverCmd() *cobra.Command {
	s := &cobra.Command{Use: "server", Short: "Run a server in the foreground", Hidden: true}
	s.AddCommand(&cobra.Command{
		Use:   "run SERVER_DIR",
		Short: "Run one server in the foreground until SIGTERM",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			procs.ExitWithParent(cancel)
			parent := procs.Notify()
			return node.Run(ctx, args[0], node.Options{Ready: parent.Ready, Progress: parent.Progress})
		},
	})
	return s
}

package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/zato-go/zato/deployclient"
	"github.com/zato-go/zato/wire"
)

// client builds a deployclient from the layered configuration; server picks one of the file's servers by name.
// Without one, it talks to url, or to the first of the file's other servers that answers when url does not.
func (a *app) client(server string) (*deployclient.Client, error) {
	url := a.v.GetString("url")
	if server != "" {
		url = ""
		for _, s := range a.servers {
			if s.Name == server {
				url = s.URL
			}
		}
		if url == "" {
			return nil, fmt.Errorf("no server named %q in the client config", server)
		}
		if err := a.needUser(); err != nil {
			return nil, err
		}
		return a.clientAt(url)
	}
	if url == "" && a.configPath != "" {
		return nil, fmt.Errorf("%s names no server: give it a url (such as url: http://127.0.0.1:17010), or pass --url", a.configPath)
	}
	if url == "" {
		return nil, errors.New("no server URL: pass --url, set ZATO_URL, or point --config/ZATO_CONFIG at a zato-client.yaml")
	}
	if err := a.needUser(); err != nil {
		return nil, err
	}
	var others []string
	for _, s := range a.servers {
		others = append(others, s.URL)
	}
	return deployclient.Dial(context.Background(), a.clientConfig(url), others)
}

// needUser refuses to call a server without a username, which it would refuse as 'user ""'.
func (a *app) needUser() error {
	if a.v.GetString("username") != "" {
		return nil
	}
	if a.configPath != "" {
		return fmt.Errorf("no username: %s gives none; add username: (the environment's user), or pass --username", a.configPath)
	}
	return errors.New("no username: pass --username, set ZATO_USERNAME, or point --config/ZATO_CONFIG at a zato-client.yaml")
}

// clientAt builds a deployclient for one server's URL with the configured credentials.
func (a *app) clientAt(url string) (*deployclient.Client, error) {
	return deployclient.New(a.clientConfig(url))
}

func (a *app) clientConfig(url string) deployclient.Config {
	return deployclient.Config{
		URL: url, Username: a.v.GetString("username"), Password: a.v.GetString("password"),
		CAFile: a.v.GetString("ca-file"), Timeout: cmp.Or(a.requestTimeout, 30*time.Second), WaitForStart: 15 * time.Second,
	}
}

func (a *app) clientCmds() []*cobra.Command {
	return []*cobra.Command{a.deployCmd(), a.invokeCmd(), a.statusCmd(), a.historyCmd(), a.rollbackCmd(), a.undeployCmd()}
}

// deployResult is one file's entry of `zato deploy --json`: every file given has one, in the order given, whatever
// ends the run.
type deployResult struct {
	File         string         `json:"file"` // as given
	Module       string         `json:"module"`
	DeploymentID int64          `json:"deployment_id"` // 0 when the file made no deployment (see error)
	Status       string         `json:"status"`
	Servers      []serverResult `json:"servers"`
	// Error says why the file never reached the servers (refused by the command's checks or by the servers, or not
	// sent); null when it did, and then each server's row says how it went.
	Error *errorResult `json:"error"`
}

// notDeployed is the entry of a file that made no deployment: failed, with why in its error (its type: refused,
// not_sent, unauthorized, unreachable, or the code of the servers' refusal, such as bad_name).
func notDeployed(file, kind string, err error) deployResult {
	return deployResult{File: file, Module: filepath.Base(file), Status: wire.StatusFailed, Servers: []serverResult{},
		Error: &errorResult{Type: kind, Message: err.Error()}}
}

// errorKind is an upload error's type in a notDeployed entry.
func errorKind(err error) string {
	var ae *deployclient.APIError
	switch {
	case errors.Is(err, deployclient.ErrUnauthorized):
		return "unauthorized"
	case errors.As(err, &ae) && ae.Code != "":
		return ae.Code
	case errors.Is(err, deployclient.ErrUnreachable):
		return "unreachable"
	}
	return "error"
}

type serverResult struct {
	Name     string       `json:"name"`
	Status   string       `json:"status"`
	Services []string     `json:"services"`
	Error    *errorResult `json:"error"` // null unless the server failed
}

// errorResult always carries every key, so scripts need not test for them; line and column are 0 when unknown.
type errorResult struct {
	Type      string `json:"type"`
	Message   string `json:"message"`
	Line      int    `json:"line"`
	Column    int    `json:"column"`
	Traceback string `json:"traceback"`
}

func toResult(file string, d deployclient.Deployment) deployResult {
	// Out of time with servers still pending, the status is the API's, pending: calling it failed or partial told
	// scripts of a failure that became a success once the servers confirmed.
	r := deployResult{File: file, Module: d.Module, DeploymentID: d.ID, Status: d.Status, Servers: []serverResult{}}
	for _, s := range d.Servers {
		svc := s.Services
		if svc == nil {
			svc = []string{}
		}
		sr := serverResult{Name: s.Name, Status: s.Status, Services: svc}
		if e := s.Error; e != nil {
			sr.Error = &errorResult{Type: e.Type, Message: e.Message, Line: e.Line, Column: e.Column, Traceback: e.Traceback}
		}
		r.Servers = append(r.Servers, sr)
	}
	return r
}

func (a *app) deployCmd() *cobra.Command {
	var asJSON, force bool
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "deploy FILE...",
		Short: "Upload modules and print each server's confirmation as it arrives; exit 0 only if every server deployed",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Every file first, with the upload's own checks: one that cannot be deployed refuses the command before
			// anything is sent (deploying the files before it and dropping those after would leave half a change).
			files := make([]moduleFile, len(args))
			results := make([]deployResult, len(args)) // --json: one entry per file, always printed
			finish := func(err error) error {
				if asJSON {
					enc := json.NewEncoder(os.Stdout)
					enc.SetIndent("", "  ")
					if jerr := enc.Encode(results); jerr != nil && err == nil {
						err = jerr
					}
				}
				return err
			}
			var refused []string
			for i, path := range args {
				name, src, err := deployclient.ReadModule(path)
				files[i] = moduleFile{path: path, name: name, source: src}
				if err != nil {
					refused = append(refused, fmt.Sprintf("  %s: %v", path, err))
					results[i] = notDeployed(path, "refused", err)
				}
			}
			if len(refused) > 0 {
				why := fmt.Errorf("%d of %d files cannot be deployed", len(refused), len(args))
				for i, r := range results {
					if r.Error == nil {
						results[i] = notDeployed(args[i], "not_sent", fmt.Errorf("not sent: %v", why))
					}
				}
				return finish(fmt.Errorf("nothing deployed: %v:\n%s", why, strings.Join(refused, "\n")))
			}
			cl, err := a.client("")
			if err != nil {
				for i := range results {
					results[i] = notDeployed(args[i], "not_sent", fmt.Errorf("not sent: %v", err))
				}
				return finish(err)
			}
			ok := true
			for i, f := range files {
				file, src := f.path, f.source
				ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
				start := time.Now()
				seen := map[string]string{}
				base := "mine" // refused when someone else deployed another version since this user's last deploy
				if force {
					base = ""
				}
				d, err := cl.DeployWith(ctx, deployclient.Upload{Name: f.name, Source: src, Origin: "cli", Base: base}, func(d deployclient.Deployment) {
					if asJSON {
						return
					}
					for _, s := range d.Servers {
						if seen[s.Name] == s.Status {
							continue
						}
						seen[s.Name] = s.Status
						if s.Status != "pending" {
							fmt.Println(serverLine(d.Module, s))
						}
					}
				})
				cancel()
				if err != nil && d.ID == 0 {
					kind := errorKind(err)
					if !refusedByServer(err) { // unreachable, refused login, cancelled...: the next files would fare no better
						results[i] = notDeployed(file, kind, err)
						rest := args[i+1:]
						for j, other := range rest {
							results[i+1+j] = notDeployed(other, "not_sent", fmt.Errorf("not sent: the run stopped at %s's error", file))
						}
						if len(rest) > 0 {
							return finish(fmt.Errorf("deploy %s: %w (not sent: %s)", file, err, strings.Join(rest, ", ")))
						}
						return finish(fmt.Errorf("deploy %s: %w", file, err))
					}
					// The servers refused this module (its name, its size, a version not seen): the others may deploy.
					ok = false
					var ae *deployclient.APIError
					if errors.As(err, &ae) && errors.Is(err, deployclient.ErrConflict) {
						err = fmt.Errorf("%s; compare with zato history %s, and deploy anyway with --force", ae.Message, f.name)
					}
					results[i] = notDeployed(file, kind, err)
					if !asJSON {
						fmt.Fprintf(os.Stderr, "deploy %s: %v\n", file, err)
					}
					continue
				}
				if err != nil { // timed out: report what we know, pending servers stay pending
					ok = false
					if !asJSON && errors.Is(err, context.DeadlineExceeded) {
						fmt.Fprintf(os.Stderr, "%s: not every server confirmed within --timeout %s; zato history %s shows how it ends\n",
							d.Module, timeout, d.Module)
					} else if !asJSON {
						fmt.Fprintf(os.Stderr, "%s: %v\n", d.Module, err)
					}
				}
				if !wire.Succeeded(d) {
					ok = false
				}
				results[i] = toResult(file, d)
				if !asJSON {
					// The time last: after "; server2 offline" it would read as that server's.
					fmt.Printf("%s: %s (deployment %d, %s)\n", d.Module, wire.Outcome(d), d.ID,
						time.Since(start).Round(time.Millisecond))
				}
			}
			if !ok {
				return finish(exitError{1})
			}
			return finish(nil)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the results as a JSON array, one entry per file (with an \"error\" for a file that never reached the servers)")
	c.Flags().BoolVar(&force, "force", false, "deploy even when someone else has deployed another version since your last deploy")
	c.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait for every server to confirm")
	return c
}

// moduleFile is one file of zato deploy, read and checked.
type moduleFile struct {
	path, name string
	source     []byte
}

// refusedByServer reports an upload the servers answered with a refusal of that module (a 4xx other than a refused
// login), as opposed to an error that would end every upload (no answer, wrong password, 5xx, cancelled).
func refusedByServer(err error) bool {
	var ae *deployclient.APIError
	return errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 && !errors.Is(err, deployclient.ErrUnauthorized)
}

func serverLine(module string, s deployclient.ServerStatus) string {
	switch {
	case s.Error != nil:
		loc := ""
		if s.Error.Line > 0 {
			loc = fmt.Sprintf(" at line %d, column %d", s.Error.Line, s.Error.Column)
		}
		return fmt.Sprintf("  %s: %s %s: %s: %s%s", s.Name, s.Status, module, s.Error.Type, s.Error.Message, loc)
	case s.Status == "deployed" && len(s.Services) == 0:
		return fmt.Sprintf("  %s: deployed %s (it defines no services)", s.Name, module)
	case s.Status == "deployed":
		return fmt.Sprintf("  %s: deployed %s -> %s", s.Name, module, strings.Join(s.Services, ", "))
	default:
		return fmt.Sprintf("  %s: %s", s.Name, s.Status)
	}
}

func (a *app) invokeCmd() *cobra.Command {
	var data, server string
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "invoke SERVICE",
		Short: "Invoke a service and print its response as JSON",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			payload, err := invokePayload(data, cmd.InOrStdin())
			if err != nil {
				return err
			}
			a.requestTimeout = timeout
			cl, err := a.client(server)
			if err != nil {
				return err
			}
			start := time.Now()
			out, err := cl.Invoke(cmd.Context(), args[0], payload)
			var ae *deployclient.APIError
			switch {
			case errors.Is(err, deployclient.ErrUnreachable) && time.Since(start) >= timeout:
				// The server is there; the service takes longer than the client waits.
				return fmt.Errorf("invoke %s: no answer within --timeout %s; the service may still be running (the server stops it at its invoke_timeout)", args[0], timeout)
			case errors.As(err, &ae) && ae.Traceback != "":
				fmt.Fprint(os.Stderr, strings.TrimRight(ae.Traceback, "\n")+"\n")
				return err
			case err != nil:
				return err
			}
			fmt.Println(string(out))
			return nil
		},
	}
	c.Flags().StringVar(&data, "data", "", "JSON request payload; @FILE reads it from a file, - from stdin")
	c.Flags().StringVar(&server, "server", "", "server name from the client config (default: the config's url)")
	c.Flags().DurationVar(&timeout, "timeout", 75*time.Second, "how long to wait for the answer (servers stop a service at their invoke_timeout, 60s by default)")
	return c
}

// invokePayload reads --data: JSON, @FILE or - (stdin); nil for none.
func invokePayload(data string, stdin io.Reader) ([]byte, error) {
	var b []byte
	switch {
	case data == "":
		return nil, nil
	case data == "-":
		var err error
		if b, err = io.ReadAll(stdin); err != nil {
			return nil, fmt.Errorf("--data -: %w", err)
		}
	case strings.HasPrefix(data, "@"):
		var err error
		if b, err = os.ReadFile(data[1:]); err != nil {
			return nil, fmt.Errorf("--data %s: %w", data, err)
		}
	default:
		b = []byte(data)
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("--data must be JSON (or @FILE holding JSON, or - to read it from stdin): %s", preview(b))
	}
	return b, nil
}

// preview is the start of what was given, for an error.
func preview(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return strconv.Quote(s)
}

func (a *app) statusCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "status [MODULE]",
		Short: "Servers (live or offline) and modules (version, sha256, per-server state); with MODULE, that module only",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			only := ""
			if len(args) == 1 {
				var err error
				if only, err = moduleArg(args[0]); err != nil {
					return err
				}
			}
			cl, err := a.client("")
			if err != nil {
				return err
			}
			raw, err := cl.StatusRaw(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				fmt.Println(string(raw))
				return nil
			}
			var st struct {
				Servers []struct {
					Name, URL, State string
					HeartbeatAt      time.Time `json:"heartbeat_at"`
				}
				Modules []struct {
					Name, SHA256, Status, Who, Origin string
					Version                           int
					Deployed                          bool
					Servers                           []struct{ Name, Status string }
				}
				Sources []struct{ Server, Entry, Status, Message string }
			}
			if err := json.Unmarshal(raw, &st); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "SERVER\tSTATE\tURL\tLAST HEARTBEAT")
			state := map[string]string{}
			for _, s := range st.Servers {
				state[s.Name] = s.State
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, s.State, s.URL, s.HeartbeatAt.Local().Format(time.DateTime))
			}
			fmt.Fprintln(tw, "\nMODULE\tVERSION\tSHA256\tSTATUS\tBY\tSERVERS")
			found := false
			for _, m := range st.Modules {
				if only != "" && m.Name != only {
					continue
				}
				found = true
				var per []string
				for _, s := range m.Servers {
					if state[s.Name] == wire.StateOffline { // it serves nothing now, whatever it applied
						per = append(per, s.Name+"=offline")
						continue
					}
					per = append(per, s.Name+"="+s.Status)
				}
				ver, sum := fmt.Sprint(m.Version), short(m.SHA256)
				if !m.Deployed {
					ver, sum = "-", "-" // the status column says undeployed
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s (%s)\t%s\n", m.Name, ver, sum, m.Status, m.Who, m.Origin, strings.Join(per, " "))
			}
			if only != "" && !found {
				return fmt.Errorf("%s has never been deployed (zato status lists the modules there are)", only)
			}
			if len(st.Sources) > 0 {
				fmt.Fprintln(tw, "\nSERVICE SOURCE\tSERVER\tSTATUS\tMESSAGE")
				for _, s := range st.Sources {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Entry, s.Server, s.Status, s.Message)
				}
			}
			// Every live server should serve the same: ask each, and say where they differ.
			var reports []wire.Served
			for _, m := range st.Servers {
				if m.State != wire.StateLive || m.URL == "" {
					continue
				}
				mc, err := a.clientAt(m.URL)
				if err != nil {
					continue
				}
				rep, err := mc.Served(cmd.Context())
				mc.Close()
				if err != nil {
					fmt.Fprintf(tw, "\n%s\tcould not tell what it serves: %v\n", m.Name, err)
					continue
				}
				reports = append(reports, rep)
			}
			if diffs := wire.Differences(reports); len(diffs) > 0 {
				fmt.Fprintln(tw, "\nSERVERS DIFFER\tWHAT EACH SERVES (sha256, services)")
				var fromSources []string
				for _, d := range diffs {
					if d.Source && len(fromSources) >= sourceDiffsShown {
						fromSources = append(fromSources, d.Module)
						continue
					}
					if d.Source {
						fromSources = append(fromSources, d.Module)
					}
					var per []string
					for _, r := range reports {
						per = append(per, r.Server+"="+d.Servers[r.Server])
					}
					fmt.Fprintf(tw, "%s\t%s\n", d.Module, strings.Join(per, "  "))
				}
				// Each server's own service-sources.txt may list other entries: many such lines would bury the
				// differences of hot-deployed modules, which are never meant.
				if more := len(fromSources) - sourceDiffsShown; more > 0 {
					fmt.Fprintf(tw, "(and %d more modules from service-sources.txt that not every server serves)\n", more)
				}
			}
			return tw.Flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// sourceDiffsShown bounds the service-sources modules zato status lists as differing between servers.
const sourceDiffsShown = 10

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

func (a *app) historyCmd() *cobra.Command {
	var asJSON bool
	var limit int
	c := &cobra.Command{
		Use:   "history MODULE",
		Short: "List a module's versions: who, when, origin, sha256",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 1 {
				return fmt.Errorf("--limit is %d: it lists at least 1 deployment", limit)
			}
			module, err := moduleArg(args[0])
			if err != nil {
				return err
			}
			cl, err := a.client("")
			if err != nil {
				return err
			}
			sv, err := cl.VersionsServed(cmd.Context(), module)
			if err != nil {
				return err
			}
			vs := sv.Versions
			ds, err := cl.Deployments(cmd.Context(), module, limit+1) // one more: are there older ones?
			if err != nil {
				return err
			}
			older := len(ds) > limit
			ds = ds[:min(len(ds), limit)]
			if asJSON {
				return json.NewEncoder(os.Stdout).Encode(map[string]any{"versions": vs, "offline": sv.Offline, "deployments": ds})
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, serving(sv))
			fmt.Fprintln(tw, "\nVERSION\tWHEN\tWHO\tORIGIN\tSHA256")
			for _, v := range vs {
				mark := ""
				if len(v.ServedBy) > 0 {
					mark = " (serving)"
				}
				fmt.Fprintf(tw, "%d%s\t%s\t%s\t%s\t%s\n", v.Version, mark, v.CreatedAt.Local().Format(time.DateTime), v.Who, v.Origin, v.SHA256)
			}
			fmt.Fprintln(tw, "\nDEPLOYMENT\tWHEN\tWHAT\tWHO\tORIGIN\tOUTCOME")
			for _, d := range ds {
				what := "version " + strconv.Itoa(d.Version)
				if d.Action == wire.ActionUndeploy {
					what = "undeploy"
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.CreatedAt.Local().Format(time.DateTime), what, d.Who, d.Origin, wire.Outcome(d))
			}
			if older {
				fmt.Fprintf(tw, "(the %d newest deployments; --limit shows more)\n", limit)
			}
			return tw.Flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().IntVar(&limit, "limit", 20, "how many of the newest deployments to list")
	return c
}

// serving says which version each server serves, from the versions' served_by: "Serving: v14 on server1,
// server2." (a newest version that failed everywhere serves nowhere; the one before it does). A server that is
// offline serves nothing: "; server3 offline".
func serving(sv deployclient.ServedVersions) string {
	var parts []string
	for _, v := range sv.Versions {
		if len(v.ServedBy) > 0 {
			parts = append(parts, fmt.Sprintf("v%d on %s", v.Version, strings.Join(v.ServedBy, ", ")))
		}
	}
	if len(parts) == 0 {
		parts = append(parts, "no version, on any server")
	}
	if len(sv.Offline) > 0 {
		parts = append(parts, strings.Join(sv.Offline, ", ")+" offline")
	}
	return "Serving: " + strings.Join(parts, "; ") + "."
}

// moduleArg is the module a MODULE argument names, for every verb that takes one: "x", "x.py" or a path to x.py, with
// spaces around it ignored. A name no module can have is refused here (deployclient.CheckModuleName), in the words of
// what the user typed, not of a name made from it.
func moduleArg(s string) (string, error) {
	name := strings.TrimSpace(s)
	if name == "" {
		return "", errors.New("MODULE is empty: name a module, such as my_services.py")
	}
	name = filepath.Base(name)
	if !strings.HasSuffix(name, ".py") && deployclient.CheckModuleName(name+".py") == nil {
		name += ".py"
	}
	if err := deployclient.CheckModuleName(name); err != nil {
		return "", err
	}
	return name, nil
}

func (a *app) waitAndPrint(ctx context.Context, cl *deployclient.Client, d deployclient.Deployment, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	final, err := cl.Watch(ctx, d.ID, nil)
	if err != nil {
		return err
	}
	for _, s := range final.Servers {
		fmt.Println(serverLine(final.Module, s))
	}
	// "x.py: version 1 deployed on every server (2/2)"; an undeploy's outcome says what it did itself: "x.py:
	// undeployed from every server (2/2)".
	what := ""
	if final.Action != wire.ActionUndeploy {
		what = "version " + strconv.Itoa(final.Version) + " "
	}
	fmt.Printf("%s: %s%s (deployment %d)\n", final.Module, what, wire.Outcome(final), final.ID)
	if !wire.Succeeded(final) {
		return exitError{1}
	}
	return nil
}

func (a *app) rollbackCmd() *cobra.Command {
	var to int
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "rollback MODULE",
		Short: "Redeploy an earlier version of a module cluster-wide (default: the most recently deployed other version that loaded on every server that took it)",
		// What the servers do (server/cluster's LastGood, which every way in shares); README says the same.
		Long: `Redeploy an earlier version of a module on every server, and print each server's answer.

Without --to, it goes to the most recently deployed other version that loaded on every server that took it: of
the deployments of versions with other content than the current one, the newest that some server loaded and none
failed (a server offline then does not count). When there is none, it goes to the newest that loaded on some server,
and then to the newest version older than the current one that no server failed to load (one never tried). It never
goes to a version that failed wherever it was tried: with nothing else, it is refused. After an undeploy nothing is
current: a rollback brings back the most recently deployed version that loaded on every server that took it, which
undoes the undeploy.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			module, err := moduleArg(args[0])
			if err != nil {
				return err
			}
			if to == 0 && cmd.Flags().Changed("to") {
				// The API takes 0 for "no version given" (the default target); the servers refuse -1 in these words.
				return fmt.Errorf("rollback %s: \"0\" is not a version number: versions are numbered 1, 2, 3...", module)
			}
			cl, err := a.client("")
			if err != nil {
				return err
			}
			d, err := cl.Rollback(cmd.Context(), module, to)
			if err != nil {
				return err
			}
			return a.waitAndPrint(cmd.Context(), cl, d, timeout)
		},
	}
	c.Flags().IntVar(&to, "to", 0, "version number to roll back to (1, 2, 3...; default: see above)")
	c.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait for confirmations")
	return c
}

func (a *app) undeployCmd() *cobra.Command {
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "undeploy MODULE",
		Short: "Remove a module and its services from every server",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			module, err := moduleArg(args[0])
			if err != nil {
				return err
			}
			cl, err := a.client("")
			if err != nil {
				return err
			}
			d, err := cl.Undeploy(cmd.Context(), module, "cli")
			if err != nil {
				return err
			}
			return a.waitAndPrint(cmd.Context(), cl, d, timeout)
		},
	}
	c.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait for confirmations")
	return c
}

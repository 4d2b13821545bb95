package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/zato-go/zato/deployclient"
)

// app holds what the verbs share: the layered client configuration.
type app struct {
	v          *viper.Viper
	servers    []deployclient.ServerRef // the client file's servers, by name
	configPath string                   // the client file read, if any
	// requestTimeout bounds each request (30 s when 0); zato invoke sets it from --timeout.
	requestTimeout time.Duration
}

func newRoot() *cobra.Command {
	a := &app{v: viper.New()}
	root := &cobra.Command{
		Use:           "zato",
		Short:         "Hot-deploy Python services to every server of a Zato-style cluster",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Annotations[noClientConfig] != "" {
				return nil // server-side verbs do not talk to the API
			}
			return a.loadConfig(cmd)
		},
	}
	pf := root.PersistentFlags()
	pf.String("config", "", "client config file (zato-client.yaml); also ZATO_CONFIG")
	pf.String("url", "", "server URL; also ZATO_URL")
	pf.String("username", "", "API user; also ZATO_USERNAME")
	pf.String("password", "", "API password; also ZATO_PASSWORD (prefer the environment or the config file)")
	pf.String("ca-file", "", "CA certificate for TLS; also ZATO_CA_FILE")
	for _, k := range []string{"url", "username", "password", "ca-file"} {
		_ = a.v.BindPFlag(k, pf.Lookup(k))
	}
	for _, c := range []*cobra.Command{a.quickstartCmd(), a.startCmd(), a.stopCmd(), a.serverCmd(), a.lspCmd()} {
		markServerSide(c)
		root.AddCommand(c)
	}
	root.AddCommand(a.clientCmds()...)
	return root
}

// loadConfig layers, later wins: the config file, ZATO_* environment, flags.
func (a *app) loadConfig(cmd *cobra.Command) error {
	a.v.SetEnvPrefix("ZATO")
	a.v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	a.v.AutomaticEnv()
	path, _ := cmd.Flags().GetString("config")
	if path == "" {
		path = os.Getenv("ZATO_CONFIG")
	}
	if path != "" {
		// Read strictly (a typo in a key names the file and line), then layered under ZATO_* and the flags.
		f, err := deployclient.LoadConfig(path)
		if err != nil {
			return err
		}
		a.configPath = path
		password := f.Password
		if password == "" && f.PasswordEnv != "" {
			if password = os.Getenv(f.PasswordEnv); password == "" {
				return fmt.Errorf("%s: passwordEnv names %s, which is not set in this environment", path, f.PasswordEnv)
			}
		}
		for k, v := range map[string]string{"url": f.URL, "username": f.Username, "password": password, "ca-file": f.CAFile} {
			if v != "" {
				a.v.SetDefault(k, v)
			}
		}
		a.servers = f.Servers
	}
	return nil
}

const noClientConfig = "no-client-config"

func markServerSide(c *cobra.Command) {
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	c.Annotations[noClientConfig] = "1"
	for _, sub := range c.Commands() {
		markServerSide(sub)
	}
}

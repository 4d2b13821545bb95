package config

import (
	"errors"

	"github.com/spf13/viper"
	"gopkg.in/ini.v1"
)

// iniCodec lets viper read Zato's INI files: viper 1.21 lists "ini" but no longer ships a decoder for it.
type iniCodec struct{}

func (iniCodec) Decode(b []byte, v map[string]any) error {
	f, err := ini.LoadSources(ini.LoadOptions{IgnoreInlineComment: true}, b)
	if err != nil {
		return err
	}
	for _, sec := range f.Sections() {
		if sec.Name() == ini.DefaultSection && len(sec.Keys()) == 0 {
			continue
		}
		m := map[string]any{}
		for _, k := range sec.Keys() {
			m[k.Name()] = k.Value()
		}
		v[sec.Name()] = m
	}
	return nil
}

func (iniCodec) Encode(map[string]any) ([]byte, error) {
	return nil, errors.New("writing INI through viper is not supported")
}

func newViper() *viper.Viper {
	reg := viper.NewCodecRegistry()
	_ = reg.RegisterCodec("ini", iniCodec{})
	return viper.NewWithOptions(viper.WithCodecRegistry(reg))
}

package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Scalar types that check their value while decoding, so that an error
// names the line.

// duration is a Go duration string ("10s", "1h30m") or whole seconds.
type duration time.Duration

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: expected a duration such as 10s", n.Line)
	}
	if secs, err := strconv.ParseUint(n.Value, 10, 32); err == nil {
		*d = duration(time.Duration(secs) * time.Second)
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		return fmt.Errorf("line %d: %q is not a duration such as 10s or 5m", n.Line, n.Value)
	}
	*d = duration(v)
	return nil
}

// size is a byte count: a number, optionally with KB, MB, GB, KiB, MiB or GiB.
type size uint32

func (s *size) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseSize(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil {
		return fmt.Errorf("line %d: %q is not a size such as 1048576 or 1MiB", n.Line, n.Value)
	}
	if v == 0 || v > 268435455 {
		return fmt.Errorf("line %d: size %d out of range 1..268435455", n.Line, v)
	}
	*s = size(v)
	return nil
}

func parseSize(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	mult := uint64(1)
	for _, u := range []struct {
		suffix string
		m      uint64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"B", 1}} {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(rest), u.m
			break
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	return v * mult, err
}

// qos is 0, 1 or 2.
type qos byte

func (q *qos) UnmarshalYAML(n *yaml.Node) error {
	v, err := strconv.Atoi(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil || v < 0 || v > 2 {
		return fmt.Errorf("line %d: %q is not a QoS (0, 1 or 2)", n.Line, n.Value)
	}
	*q = qos(v)
	return nil
}

// posInt is a positive int.
type posInt int

func (p *posInt) UnmarshalYAML(n *yaml.Node) error {
	v, err := strconv.Atoi(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil || v <= 0 {
		return fmt.Errorf("line %d: %q is not a positive whole number", n.Line, n.Value)
	}
	*p = posInt(v)
	return nil
}

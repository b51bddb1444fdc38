package capture

import (
	"errors"
	"fmt"
	"time"

	"github.com/mxwatch/mxwatch/capture/defrag"
	"github.com/mxwatch/mxwatch/capture/dns"
	"github.com/mxwatch/mxwatch/capture/smtp"
)

// Config configures an Engine. The zero value is not usable; start from
// DefaultConfig.
type Config struct {
	// Sensor names this sensor on every event.
	Sensor string
	// MailPorts are the TCP server ports whose connections become sessions.
	MailPorts []uint16
	// ImplicitTLSPorts are mail ports where TLS starts with the first byte;
	// ports in it that are not mail ports have no effect.
	ImplicitTLSPorts []uint16
	// DNSPorts are the UDP and TCP ports parsed as DNS.
	DNSPorts []uint16
	// VXLANPorts, GenevePorts and GREUDPPorts are the UDP destination ports
	// whose payload is decapsulated.
	VXLANPorts  []uint16
	GenevePorts []uint16
	GREUDPPorts []uint16

	TCP    TCPConfig
	SMTP   smtp.Config
	DNS    dns.Config
	Defrag defrag.Config
}

// TCPConfig bounds TCP reassembly.
type TCPConfig struct {
	// MaxFlows is the size of the flow table; when it is full the flow seen
	// least recently is closed early (counted as evicted).
	MaxFlows int
	// MaxBufferedBytes bounds out-of-order data held for all flows together;
	// MaxFlowBufferedBytes for one flow. Past either bound the hole before the
	// buffered data is declared a gap.
	MaxBufferedBytes     int
	MaxFlowBufferedBytes int
	// IdleTimeout closes a connection without packets for that long (packet
	// time); HandshakeTimeout closes connection attempts that never
	// completed; ReorderTimeout is how long out-of-order data waits for the
	// missing bytes before they are declared lost.
	IdleTimeout      time.Duration
	HandshakeTimeout time.Duration
	ReorderTimeout   time.Duration
}

// DefaultConfig returns the configuration mxwatch uses unless told otherwise.
func DefaultConfig() Config {
	return Config{
		MailPorts:        []uint16{25, 465, 587},
		ImplicitTLSPorts: []uint16{465},
		DNSPorts:         []uint16{53},
		VXLANPorts:       []uint16{4789, 8472},
		GenevePorts:      []uint16{6081},
		GREUDPPorts:      []uint16{4754},
		TCP: TCPConfig{
			MaxFlows:             100000,
			MaxBufferedBytes:     64 << 20,
			MaxFlowBufferedBytes: 1 << 20,
			IdleTimeout:          10 * time.Minute,
			HandshakeTimeout:     time.Minute,
			ReorderTimeout:       10 * time.Second,
		},
		SMTP:   smtp.DefaultConfig(),
		DNS:    dns.DefaultConfig(),
		Defrag: defrag.DefaultConfig(),
	}
}

var errNoPorts = errors.New("no mail ports configured")

// Validate reports the first problem with the configuration.
func (c *Config) Validate() error {
	if len(c.MailPorts) == 0 {
		return errNoPorts
	}
	for _, p := range c.DNSPorts {
		if contains(c.MailPorts, p) {
			return fmt.Errorf("port %d is both a mail and a DNS port", p)
		}
	}
	if err := c.TCP.Validate(); err != nil {
		return fmt.Errorf("tcp: %w", err)
	}
	if err := c.SMTP.Validate(); err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	if err := c.DNS.Validate(); err != nil {
		return fmt.Errorf("dns: %w", err)
	}
	if err := c.Defrag.Validate(); err != nil {
		return fmt.Errorf("defrag: %w", err)
	}
	return nil
}

// Validate reports the first problem with the TCP bounds.
func (c *TCPConfig) Validate() error {
	switch {
	case c.MaxFlows < 1:
		return fmt.Errorf("max_flows must be positive, got %d", c.MaxFlows)
	case c.MaxBufferedBytes < 1 || c.MaxFlowBufferedBytes < 1:
		return fmt.Errorf("buffer bounds must be positive, got %d and %d", c.MaxBufferedBytes, c.MaxFlowBufferedBytes)
	case c.MaxFlowBufferedBytes > c.MaxBufferedBytes:
		return fmt.Errorf("max_flow_buffered_bytes %d exceeds max_buffered_bytes %d", c.MaxFlowBufferedBytes, c.MaxBufferedBytes)
	case c.IdleTimeout <= 0 || c.HandshakeTimeout <= 0 || c.ReorderTimeout <= 0:
		return errors.New("timeouts must be positive")
	case c.HandshakeTimeout > c.IdleTimeout:
		return fmt.Errorf("handshake_timeout %v exceeds idle_timeout %v", c.HandshakeTimeout, c.IdleTimeout)
	}
	return nil
}

func contains(list []uint16, v uint16) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

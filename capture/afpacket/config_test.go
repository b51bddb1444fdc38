package afpacket

import (
	"errors"
	"os"
	"testing"
	"time"

	"golang.org/x/net/bpf"
)

func TestConfigValidate(t *testing.T) {
	page := os.Getpagesize()
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{name: "defaults", cfg: Config{Interface: "eth0"}},
		{name: "everything set", cfg: Config{Interface: "eth0", BlockSize: 4 * page, NumBlocks: 8, FrameSize: 256,
			BlockTimeout: 10 * time.Millisecond, SnapLen: 1500, Promiscuous: true, Fanout: &Fanout{Group: 7, Mode: FanoutCPU, Defrag: true},
			Filter: []bpf.RawInstruction{{Op: 0x06, K: 0xffff}}, PollTimeout: time.Second}},
		{name: "one page block, default snaplen shrinks", cfg: Config{Interface: "eth0", BlockSize: page, NumBlocks: 2}},
		{name: "snaplen of max", cfg: Config{Interface: "eth0", BlockSize: 1 << 20, SnapLen: MaxSnapLen}},
		{name: "no interface", cfg: Config{}, wantErr: true},
		{name: "interface name too long", cfg: Config{Interface: "abcdefghijklmnop"}, wantErr: true},
		{name: "block size not a page multiple", cfg: Config{Interface: "eth0", BlockSize: page + 512}, wantErr: true},
		{name: "negative block size", cfg: Config{Interface: "eth0", BlockSize: -page}, wantErr: true},
		{name: "block size too large", cfg: Config{Interface: "eth0", BlockSize: 2 * MaxBlockSize}, wantErr: true},
		{name: "negative blocks", cfg: Config{Interface: "eth0", NumBlocks: -1}, wantErr: true},
		{name: "ring too large", cfg: Config{Interface: "eth0", BlockSize: 1 << 20, NumBlocks: 1 << 20}, wantErr: true},
		{name: "frame size not aligned", cfg: Config{Interface: "eth0", FrameSize: 2008}, wantErr: true},
		{name: "frame size too small", cfg: Config{Interface: "eth0", FrameSize: 64}, wantErr: true},
		{name: "negative frame size", cfg: Config{Interface: "eth0", FrameSize: -2048}, wantErr: true},
		{name: "frame size above block", cfg: Config{Interface: "eth0", BlockSize: page, FrameSize: 2 * page}, wantErr: true},
		{name: "negative block timeout", cfg: Config{Interface: "eth0", BlockTimeout: -time.Millisecond}, wantErr: true},
		{name: "block timeout below 1ms", cfg: Config{Interface: "eth0", BlockTimeout: time.Microsecond}, wantErr: true},
		{name: "negative snaplen", cfg: Config{Interface: "eth0", SnapLen: -1}, wantErr: true},
		{name: "snaplen too large", cfg: Config{Interface: "eth0", SnapLen: MaxSnapLen + 1}, wantErr: true},
		{name: "snaplen does not fit the block", cfg: Config{Interface: "eth0", BlockSize: page, SnapLen: page}, wantErr: true},
		{name: "negative poll timeout", cfg: Config{Interface: "eth0", PollTimeout: -time.Second}, wantErr: true},
		{name: "unknown fanout mode", cfg: Config{Interface: "eth0", Fanout: &Fanout{Mode: 9}}, wantErr: true},
		{name: "filter too long", cfg: Config{Interface: "eth0", Filter: make([]bpf.RawInstruction, bpfMaxInstructions+1)}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.wantErr {
				if !errors.Is(err, ErrInvalidConfig) {
					t.Fatalf("Validate() = %v, want ErrInvalidConfig", err)
				}
				if _, oerr := Open(tc.cfg); !errors.Is(oerr, ErrInvalidConfig) {
					t.Fatalf("Open() = %v, want ErrInvalidConfig", oerr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Validate() = %v", err)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	page := os.Getpagesize()
	tests := []struct {
		name string
		cfg  Config
		want Config
	}{
		{name: "all defaults", cfg: Config{Interface: "eth0"}, want: Config{Interface: "eth0", BlockSize: DefaultBlockSize,
			NumBlocks: DefaultNumBlocks, FrameSize: DefaultFrameSize, BlockTimeout: DefaultBlockTimeout, SnapLen: DefaultSnapLen,
			PollTimeout: DefaultPollTimeout}},
		{name: "small block", cfg: Config{Interface: "eth0", BlockSize: page}, want: Config{Interface: "eth0", BlockSize: page,
			NumBlocks: DefaultNumBlocks, FrameSize: min(DefaultFrameSize, page), BlockTimeout: DefaultBlockTimeout,
			SnapLen: page - blockOverhead, PollTimeout: DefaultPollTimeout}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.cfg.withDefaults()
			if got.BlockSize != tc.want.BlockSize || got.NumBlocks != tc.want.NumBlocks || got.FrameSize != tc.want.FrameSize ||
				got.BlockTimeout != tc.want.BlockTimeout || got.SnapLen != tc.want.SnapLen || got.PollTimeout != tc.want.PollTimeout {
				t.Errorf("withDefaults() = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestFanoutModeString(t *testing.T) {
	tests := []struct {
		name string
		mode FanoutMode
		want string
	}{
		{name: "hash", mode: FanoutHash, want: "hash"},
		{name: "lb", mode: FanoutLB, want: "lb"},
		{name: "cpu", mode: FanoutCPU, want: "cpu"},
		{name: "unknown", mode: 42, want: "FanoutMode(42)"},
	}
	for _, tc := range tests {
		if got := tc.mode.String(); got != tc.want {
			t.Errorf("%s: String() = %q, want %q", tc.name, got, tc.want)
		}
	}
}

package zeo_test

import (
	"errors"
	"net"
	"testing"

	"github.com/cairnstack/cairn/objectstore/zeo"
)

func TestHandshakeOverPipe(t *testing.T) {
	for _, enc := range []zeo.Encoding{zeo.Pickle, zeo.Msgpack} {
		t.Run(enc.String(), func(t *testing.T) {
			sc, cc := net.Pipe()
			defer sc.Close()
			defer cc.Close()
			type result struct {
				p   zeo.Protocol
				err error
			}
			done := make(chan result, 1)
			go func() {
				p, err := zeo.ClientHandshake(zeo.NewReader(cc, 0), zeo.NewWriter(cc))
				done <- result{p, err}
			}()
			got, err := zeo.ServerHandshake(zeo.NewReader(sc, 0), zeo.NewWriter(sc),
				zeo.Protocol{Encoding: enc, Version: zeo.Version})
			if err != nil {
				t.Fatal(err)
			}
			client := <-done
			if client.err != nil {
				t.Fatal(client.err)
			}
			want := zeo.Protocol{Encoding: enc, Version: "5"}
			if got != want || client.p != want {
				t.Errorf("server got %v, client chose %v; want %v", got, client.p, want)
			}
		})
	}
}

func TestServerHandshakeStatusRequest(t *testing.T) {
	sc, cc := net.Pipe()
	defer sc.Close()
	defer cc.Close()
	go func() {
		r, w := zeo.NewReader(cc, 0), zeo.NewWriter(cc)
		if _, err := r.ReadFrame(); err == nil {
			_ = w.WriteFrame([]byte(zeo.StatusRequest))
			_ = w.Flush()
		}
	}()
	_, err := zeo.ServerHandshake(zeo.NewReader(sc, 0), zeo.NewWriter(sc), zeo.Protocol{Encoding: zeo.Pickle, Version: zeo.Version})
	if !errors.Is(err, zeo.ErrStatusRequest) {
		t.Fatalf("got %v; want ErrStatusRequest", err)
	}
}

func TestAcceptProtocol(t *testing.T) {
	tests := []struct {
		reply string
		want  zeo.Protocol
		err   error
	}{
		{"Z5", zeo.Protocol{Encoding: zeo.Pickle, Version: "5"}, nil},
		{"M5", zeo.Protocol{Encoding: zeo.Msgpack, Version: "5"}, nil},
		{"ruok", zeo.Protocol{}, zeo.ErrStatusRequest},
		{"Z4", zeo.Protocol{}, zeo.ErrBadHandshake},
		{"Z3101", zeo.Protocol{}, zeo.ErrBadHandshake},
		{"Z", zeo.Protocol{}, zeo.ErrBadHandshake},
		{"", zeo.Protocol{}, zeo.ErrBadHandshake},
		{"X5", zeo.Protocol{}, zeo.ErrBadHandshake},
		{"Z55", zeo.Protocol{}, zeo.ErrBadHandshake},
	}
	for _, tt := range tests {
		got, err := zeo.AcceptProtocol([]byte(tt.reply))
		if got != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("AcceptProtocol(%q) = %v, %v; want %v, %v", tt.reply, got, err, tt.want, tt.err)
		}
	}
}

// TestChooseProtocol follows the client's min(server_version, b"5"): a
// bytes comparison, so "10" sorts before "5".
func TestChooseProtocol(t *testing.T) {
	tests := []struct {
		announced string
		want      string
		err       error
	}{
		{"Z5", "Z5", nil},
		{"M5", "M5", nil},
		{"Z6", "Z5", nil},
		{"Z51", "Z5", nil},
		{"Z4", "", zeo.ErrBadHandshake},
		{"Z10", "", zeo.ErrBadHandshake},
		{"Q5", "", zeo.ErrBadHandshake},
	}
	for _, tt := range tests {
		got, err := zeo.ChooseProtocol([]byte(tt.announced))
		if !errors.Is(err, tt.err) || (err == nil && got.String() != tt.want) {
			t.Errorf("ChooseProtocol(%q) = %v, %v; want %q, %v", tt.announced, got, err, tt.want, tt.err)
		}
	}
}

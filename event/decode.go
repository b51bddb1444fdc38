package event

import (
	"encoding/json"
	"errors"
	"fmt"
)

// MaxEncodedSize bounds the JSON of one event that Decode accepts. The
// largest events a sensor writes (sessions with many replies, messages
// with many recipients) stay well below it; anything larger is hostile or
// corrupt.
const MaxEncodedSize = 4 << 20

// Errors returned by Decode; they wrap the detail.
var (
	// ErrUndecodable: the bytes are not the JSON of an event.
	ErrUndecodable = errors.New("undecodable event")
	// ErrUnknownKind: the "kind" field names no event type.
	ErrUnknownKind = errors.New("unknown event kind")
	// ErrVersion: the "v" field is not SchemaVersion.
	ErrVersion = errors.New("unsupported schema version")
	// ErrInvalid: the event decoded but is not well formed (Validate).
	ErrInvalid = errors.New("invalid event")
)

// Decode parses the JSON encoding of one event, as the sensors write it,
// and validates it. The kind and version are checked before the body is
// decoded, so a consumer can tell a newer producer (ErrVersion) from
// garbage (ErrUndecodable).
func Decode(data []byte) (Event, error) {
	if len(data) > MaxEncodedSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrUndecodable, len(data), MaxEncodedSize)
	}
	var head struct {
		Kind    Kind `json:"kind"`
		Version *int `json:"v"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUndecodable, err)
	}
	if head.Version == nil {
		return nil, fmt.Errorf("%w: no schema version", ErrUndecodable)
	}
	if *head.Version != SchemaVersion {
		return nil, fmt.Errorf("%w: %d (this build reads %d)", ErrVersion, *head.Version, SchemaVersion)
	}
	var ev Event
	switch head.Kind {
	case KindSession:
		ev = new(Session)
	case KindMessage:
		ev = new(Message)
	case KindDNS:
		ev = new(DNS)
	case KindFinding:
		ev = new(Finding)
	case KindAlert:
		ev = new(Alert)
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnknownKind, head.Kind)
	}
	if err := json.Unmarshal(data, ev); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUndecodable, head.Kind, err)
	}
	if err := ev.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return ev, nil
}

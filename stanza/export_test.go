package stanza

import "github.com/google/uuid"

func uuidString() string { return uuid.NewString() }

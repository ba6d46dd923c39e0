module xmppkit.dev

go 1.25.0

require (
	github.com/google/uuid v1.6.0
	golang.org/x/net v0.58.0
	golang.org/x/text v0.41.0
	mellium.im/sasl v0.3.2
)

require golang.org/x/crypto v0.55.0 // indirect

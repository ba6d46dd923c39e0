// Package tiers holds the test that keeps the module's import graph within
// the tier table of docs/design.md: every package listed there, a package
// importing only its own tier or below, and nothing outside the SDK's own
// packages (the examples, and every Example function) importing internal/.
//
// The package has no API: everything is in its test.
package tiers

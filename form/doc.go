// Package form implements XEP-0004 (Data Forms): the jabber:x:data form,
// submit, cancel and result forms, their fields (type, var, label, desc,
// required, values, options), reported fields and items, with XML
// marshalling through encoding/xml, validation, and typed getters.
//
// A form is a plain value: build it with a composite literal or Set, encode
// it with encoding/xml (Form implements xml.Marshaler and xml.Unmarshaler),
// decode untrusted bytes with Parse, which also validates.
//
// Other packages use it for XEP-0128 service discovery extensions (see
// package disco) and for configuration and publish options.
package form

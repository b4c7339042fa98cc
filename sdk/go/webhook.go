package main

// Standard Webhooks verification (https://www.standardwebhooks.com) with the standard
// library only: there is no module proxy here, so no third-party library. The Python and
// TypeScript first steps use the standardwebhooks packages instead.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// WebhookTolerance is how far a delivery's webhook-timestamp may be from this clock, either
// way, as the specification sets it.
const WebhookTolerance = 5 * time.Minute

// StandardWebhook verifies deliveries signed with one key.
type StandardWebhook struct {
	key []byte
}

// NewStandardWebhook takes the secret as the specification writes it: "whsec_" and the
// base64 of the key. (For a callscribe target whose signingSecret is not whsec_, pass
// "whsec_" + base64 of that secret's bytes.)
func NewStandardWebhook(secret string) (*StandardWebhook, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return nil, errors.New("the secret is not base64 after whsec_")
	}
	if len(key) == 0 {
		return nil, errors.New("the secret is empty")
	}
	return &StandardWebhook{key: key}, nil
}

// Verify checks a delivery: body must be the raw request body, exactly as received. It
// refuses missing headers, a timestamp more than WebhookTolerance from now, and a body
// whose HMAC-SHA256 matches none of the v1 signatures (compared in constant time).
func (w *StandardWebhook) Verify(body []byte, h http.Header, now time.Time) error {
	id, timestamp, signatures := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || timestamp == "" || signatures == "" {
		return errors.New("missing required headers")
	}
	seconds, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return errors.New("invalid webhook-timestamp")
	}
	sent := time.Unix(seconds, 0)
	if now.Sub(sent) > WebhookTolerance {
		return errors.New("message timestamp too old")
	}
	if sent.Sub(now) > WebhookTolerance {
		return errors.New("message timestamp too new")
	}
	mac := hmac.New(sha256.New, w.key)
	mac.Write([]byte(id + "." + strconv.FormatInt(seconds, 10) + "."))
	mac.Write(body)
	expected := mac.Sum(nil)
	// The header is a space-separated list of "version,base64"; only v1 is defined.
	for _, versioned := range strings.Split(signatures, " ") {
		version, signature, ok := strings.Cut(versioned, ",")
		if !ok || version != "v1" {
			continue
		}
		given, err := base64.StdEncoding.DecodeString(signature)
		if err == nil && hmac.Equal(given, expected) {
			return nil
		}
	}
	return errors.New("no matching signature found")
}

// checkVerifier runs the verifier on the known answers of docs/webhook-receiver-guide.md
// (computed with the standardwebhooks Python package), at and beyond the tolerance.
func checkVerifier() error {
	body := []byte(`{"a":1}`)
	sent := time.Unix(1700000000, 0)
	cases := []struct {
		secret, signature string
		now               time.Time
		ok                bool
	}{
		{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "v1,hVsFLpmw4Ib/Xm0eZLt3KqYBZdt0U8gdGeuz0EsGv78=", sent, true},
		// A plain secret: its bytes are the key, written as whsec_ + base64 of them.
		{"whsec_" + base64.StdEncoding.EncodeToString([]byte("my plain secret")),
			"v1,EyembTX3i7c6WycMtsU2Gj12CdWfEEox/2F+VsNUlcw=", sent, true},
		// Any v1 signature of a space-separated list may match.
		{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
			"v1,AAAA v2,hVsFLpmw4Ib/Xm0eZLt3KqYBZdt0U8gdGeuz0EsGv78= v1,hVsFLpmw4Ib/Xm0eZLt3KqYBZdt0U8gdGeuz0EsGv78=", sent, true},
		{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "v2,hVsFLpmw4Ib/Xm0eZLt3KqYBZdt0U8gdGeuz0EsGv78=", sent, false},
		{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "v1,hVsFLpmw4Ib/Xm0eZLt3KqYBZdt0U8gdGeuz0EsGv78=", sent.Add(WebhookTolerance), true},
		{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "v1,hVsFLpmw4Ib/Xm0eZLt3KqYBZdt0U8gdGeuz0EsGv78=", sent.Add(WebhookTolerance + time.Second), false},
		{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "v1,hVsFLpmw4Ib/Xm0eZLt3KqYBZdt0U8gdGeuz0EsGv78=", sent.Add(-WebhookTolerance), true},
		{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "v1,hVsFLpmw4Ib/Xm0eZLt3KqYBZdt0U8gdGeuz0EsGv78=", sent.Add(-WebhookTolerance - time.Second), false},
	}
	for i, c := range cases {
		w, err := NewStandardWebhook(c.secret)
		if err != nil {
			return err
		}
		h := http.Header{}
		h.Set("webhook-id", "msg_1")
		h.Set("webhook-timestamp", "1700000000")
		h.Set("webhook-signature", c.signature)
		if err := w.Verify(body, h, c.now); (err == nil) != c.ok {
			return fmt.Errorf("known answer %d: verified=%v, want %v (%v)", i, err == nil, c.ok, err)
		}
	}
	return nil
}

// First steps with the generated Go client (openapi-generator, package callscribe).
//
// Sets up a tenant from nothing with the admin token, then transcribes one call with the
// tenant's API key, exactly as an integration would: every call goes through the client
// that scripts/generate-sdks generates from openapi/openapi.json. scripts/test-sdks puts
// this module and the generated one in a Go workspace (GOWORK). Environment:
// CALLSCRIBE_URL, CALLSCRIBE_ADMIN_TOKEN, CALLSCRIBE_KVS_URL, CALLSCRIBE_STREAM_ARN,
// CALLSCRIBE_CONTACT_ID (the ContactId the stream's fragments carry, as Connect's event
// gives it). The tenant's webhook target is a receiver started here on 127.0.0.1, which
// verifies every delivery as the Standard Webhooks specification defines, with the standard
// library only (webhook.go; no module proxy here, so no third-party library), under a whsec_
// signing secret, and parses its body into the generated TranscriptEvent; the service must
// allow loopback targets (CALLSCRIBE_WEBHOOK__ALLOW_CIDRS, as scripts/test-sdks sets it).
// Prints each step; exits 1 at the first answer that is not what the API promises.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	callscribe "callscribe.local/sdk/go"
)

const pollTimeout = 60 * time.Second

// deliveryTimeout is how long after stop-streaming the last messages may take to be delivered.
const deliveryTimeout = 20 * time.Second

func step(format string, args ...interface{}) {
	fmt.Printf("go: "+format+"\n", args...)
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "go: FAILED: "+format+"\n", args...)
	os.Exit(1)
}

// check fails unless the call answered `status` without an error.
func check(what string, status int, resp *http.Response, err error) {
	if err != nil || resp == nil || resp.StatusCode != status {
		fail("%s: expected %d, got %v: %v", what, status, statusOf(resp), describe(err))
	}
}

// expectError fails unless the call answered `status` with an ErrorBody carrying `code`.
func expectError(what string, status int, code string, resp *http.Response, err error) callscribe.ErrorBody {
	var apiErr *callscribe.GenericOpenAPIError
	if !errors.As(err, &apiErr) || statusOf(resp) != status {
		fail("%s: expected %d %s, got %v: %v", what, status, code, statusOf(resp), err)
	}
	body, ok := apiErr.Model().(callscribe.ErrorBody)
	if !ok || body.Error.Code != code {
		fail("%s: expected an ErrorBody with code %s, got %#v", what, code, apiErr.Model())
	}
	return body
}

func statusOf(resp *http.Response) int {
	if resp == nil {
		return 0
	}
	return resp.StatusCode
}

func describe(err error) string {
	var apiErr *callscribe.GenericOpenAPIError
	if errors.As(err, &apiErr) {
		return fmt.Sprintf("%v %s", err, apiErr.Body())
	}
	return fmt.Sprint(err)
}

func env(name string) string {
	v := os.Getenv(name)
	if v == "" {
		fail("%s is not set", name)
	}
	return v
}

func newUUID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		fail("random: %v", err)
	}
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// parseEvent decodes the webhook body into the generated TranscriptEvent (the spec's
// `transcript` webhook), whose decoder checks the required fields and the enums.
func parseEvent(body []byte) (callscribe.TranscriptEvent, error) {
	var event callscribe.TranscriptEvent
	if err := json.Unmarshal(body, &event); err != nil {
		return event, err
	}
	result := event.AutotranscribeResponse
	if event.Type != callscribe.TRANSCRIPTKIND_TRANSCRIPT || result.Message != callscribe.TRANSCRIPTKIND_TRANSCRIPT {
		return event, fmt.Errorf("type is %q, message %q", event.Type, result.Message)
	}
	if len(result.Utterance) != 1 {
		return event, errors.New("not exactly one utterance")
	}
	return event, nil
}

func eventText(event callscribe.TranscriptEvent) string {
	return event.AutotranscribeResponse.Utterance[0].Text
}

// delivery is a verified webhook POST.
type delivery struct {
	header http.Header
	body   []byte
	event  callscribe.TranscriptEvent
}

// receiver is the tenant's webhook target: an HTTP server on 127.0.0.1 (a free port) that
// verifies every delivery, answers 204 (verified) or 401, and keeps what it received.
type receiver struct {
	webhook  *StandardWebhook
	url      string
	server   *http.Server
	mu       sync.Mutex
	verified map[string]delivery
	failures []string
}

func startReceiver(webhook *StandardWebhook) *receiver {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail("webhook receiver: %v", err)
	}
	r := &receiver{
		webhook:  webhook,
		url:      fmt.Sprintf("http://%s/hook", listener.Addr()),
		verified: map[string]delivery{},
	}
	r.server = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.server.Serve(listener) }()
	return r
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err == nil {
		// Verify the raw bytes before parsing them.
		err = r.webhook.Verify(body, req.Header, time.Now())
	}
	var event callscribe.TranscriptEvent
	if err == nil {
		event, err = parseEvent(body)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	id := req.Header.Get("webhook-id")
	if err != nil {
		r.failures = append(r.failures, fmt.Sprintf("%s: %v", id, err))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	r.verified[id] = delivery{header: req.Header.Clone(), body: body, event: event}
	w.WriteHeader(http.StatusNoContent)
}

// state answers copies of what was received so far.
func (r *receiver) state() (map[string]delivery, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	verified := make(map[string]delivery, len(r.verified))
	for id, d := range r.verified {
		verified[id] = d
	}
	return verified, append([]string(nil), r.failures...)
}

func main() {
	kvsURL := env("CALLSCRIBE_KVS_URL")
	streamArn := env("CALLSCRIBE_STREAM_ARN")
	contactID := env("CALLSCRIBE_CONTACT_ID")
	cfg := callscribe.NewConfiguration()
	cfg.Servers = callscribe.ServerConfigurations{{URL: env("CALLSCRIBE_URL")}}
	client := callscribe.NewAPIClient(cfg)
	// Credentials travel in the context: a bearer token for the admin API, an API key
	// (security scheme "ApiKey", the x-api-key header) for the public API.
	admin := context.WithValue(context.Background(), callscribe.ContextAccessToken, env("CALLSCRIBE_ADMIN_TOKEN"))

	tenant, resp, err := client.AdminAPI.CreateTenant(admin).
		CreateTenantRequest(*callscribe.NewCreateTenantRequest("first-steps-go")).Execute()
	check("createTenant", 201, resp, err)
	step("created tenant %s (%s, %s)", tenant.Id, tenant.Name, tenant.CreatedAt.Format(time.RFC3339))

	settings := callscribe.NewTenantAws()
	settings.SetEndpointUrl(kvsURL)
	aws, resp, err := client.AdminAPI.PutTenantAws(admin, tenant.Id).TenantAws(*settings).Execute()
	check("putTenantAws", 200, resp, err)
	if aws.GetEndpointUrl() != kvsURL {
		fail("endpointUrl is %q, want %q", aws.GetEndpointUrl(), kvsURL)
	}
	step("tenant reads KVS at %s", aws.GetEndpointUrl())

	created, resp, err := client.AdminAPI.CreateApiKey(admin, tenant.Id).
		CreateKeyRequest(*callscribe.NewCreateKeyRequest("first-steps")).Execute()
	check("createApiKey", 201, resp, err)
	step("created API key %s for app %s", created.KeyId, created.App)
	api := context.WithValue(context.Background(), callscribe.ContextAPIKeys,
		map[string]callscribe.APIKey{"ApiKey": {Key: created.Key}})

	// The webhook target, signed with a whsec_ secret (base64 of 32 random bytes).
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		fail("random: %v", err)
	}
	signingSecret := "whsec_" + base64.StdEncoding.EncodeToString(key)
	if err := checkVerifier(); err != nil {
		fail("Standard Webhooks verifier: %v", err)
	}
	webhook, err := NewStandardWebhook(signingSecret)
	if err != nil {
		fail("webhook secret: %v", err)
	}
	hook := startReceiver(webhook)
	target := callscribe.NewWebhookTarget(hook.url,
		callscribe.NoAuthAsWebhookAuth(callscribe.NewNoAuth(callscribe.NOAUTHMODE_NONE)))
	target.SetSigningSecret(signingSecret)
	set, resp, err := client.AdminAPI.PutWebhook(admin, tenant.Id).WebhookTarget(*target).Execute()
	check("putWebhook", 200, resp, err)
	if set.Url != hook.url {
		fail("webhook url is %q, want %q", set.Url, hook.url)
	}
	step("webhook target %s (whsec_ signing secret; the verifier passed its known answers)", set.Url)

	connect := callscribe.NewAmazonConnectParams(streamArn)
	connect.SetStartSelectorType(callscribe.STARTSELECTORTYPE_EARLIEST)
	start := callscribe.NewStartStreamingRequest(callscribe.NAMESPACE_AMAZONCONNECT, contactID, "customer-go", "agent-go", *connect)
	params := callscribe.NewAutotranscribeParams()
	params.SetRedactionOutput(callscribe.REDACTIONOUTPUT_REDACTED)
	start.SetAutotranscribeParams(*params)
	started, resp, err := client.StreamingAPI.StartStreaming(api).StartStreamingRequest(*start).Execute()
	check("startStreaming", 200, resp, err)
	customer := started.AutotranscribeResponse.Customer
	if !started.IsOk || customer.Status.Code != 1000 {
		fail("start answered isOk=%v, customer status %d", started.IsOk, customer.Status.Code)
	}
	step("started streaming contact %s: customer stream %s", contactID, customer.StreamId)

	deadline := time.Now().Add(pollTimeout)
	var spoken []callscribe.MessageItem
	for len(spoken) == 0 {
		if time.Now().After(deadline) {
			fail("no utterance with text within %v", pollTimeout)
		}
		time.Sleep(time.Second)
		page, resp, err := client.ConversationsAPI.GetConversationMessages(api).ExternalId(contactID).Execute()
		check("getConversationMessages", 200, resp, err)
		for _, m := range page.Items {
			if strings.TrimSpace(m.Text) != "" {
				spoken = append(spoken, m)
			}
		}
	}
	first := spoken[0]
	if !first.Sender.Role.IsValid() {
		fail("sender.role %q is not a ParticipantRole", first.Sender.Role)
	}
	step("utterance from the %s (%d-%d ms): %q", first.Sender.Role, first.Start, first.End, first.Text)

	stopped, resp, err := client.StreamingAPI.StopStreaming(api).
		StopStreamingRequest(*callscribe.NewStopStreamingRequest(callscribe.NAMESPACE_AMAZONCONNECT, contactID)).Execute()
	check("stopStreaming", 200, resp, err)
	summary := stopped.AutotranscribeResponse.Customer.Summary
	if summary == nil || summary.TotalAudioBytes <= 0 || summary.Transcripts < 1 {
		fail("stop summary of the customer stream is %+v", summary)
	}
	if summary.AudioDurationMs != summary.TotalAudioBytes/16 {
		fail("audioDurationMs %d is not totalAudioBytes/16", summary.AudioDurationMs)
	}
	step("stopped: customer %d bytes, %d ms of audio, %d transcripts, %d s",
		summary.TotalAudioBytes, summary.AudioDurationMs, summary.Transcripts, summary.StreamingSeconds)

	checkDeliveries(client, admin, api, tenant.Id, contactID, first, hook)

	// Errors decode into ErrorBody with the contract's code.
	missing := callscribe.NewAmazonConnectParams("arn:aws:kinesisvideo:us-east-1:000000000000:stream/no-such-stream/0")
	_, resp, err = client.StreamingAPI.StartStreaming(api).StartStreamingRequest(
		*callscribe.NewStartStreamingRequest(callscribe.NAMESPACE_AMAZONCONNECT, newUUID(), "customer-go", "agent-go", *missing)).Execute()
	body := expectError("startStreaming on an unknown stream", 422, "422-01", resp, err)
	step("unknown stream: %s %s (request %s)", body.Error.Code, body.Error.Message, body.Error.RequestId)

	bad := context.WithValue(context.Background(), callscribe.ContextAPIKeys,
		map[string]callscribe.APIKey{"ApiKey": {Key: "cs_nope_nope"}})
	_, resp, err = client.ConversationsAPI.GetConversationMessages(bad).ExternalId(contactID).Execute()
	body = expectError("a bad API key", 401, "401-01", resp, err)
	step("bad API key: %s %s", body.Error.Code, body.Error.Message)
	step("OK")
}

// checkDeliveries: every message of the call arrives at the receiver, verified, as the
// delivery with webhook-id = its messageId; nothing fails verification; a changed byte does.
func checkDeliveries(client *callscribe.APIClient, admin, api context.Context, tenantID, contactID string,
	first callscribe.MessageItem, hook *receiver) {
	deadline := time.Now().Add(deliveryTimeout)
	var (
		messageIDs map[string]bool
		missing    []string
		verified   map[string]delivery
		failures   []string
	)
	for {
		page, resp, err := client.ConversationsAPI.GetConversationMessages(api).ExternalId(contactID).Execute()
		check("getConversationMessages", 200, resp, err)
		verified, failures = hook.state()
		messageIDs, missing = map[string]bool{}, nil
		for _, m := range page.Items {
			messageIDs[m.MessageId] = true
			if _, ok := verified[m.MessageId]; !ok {
				missing = append(missing, m.MessageId)
			}
		}
		if len(missing) == 0 || len(failures) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hook.server.Shutdown(ctx)
	step("webhook: %d deliveries verified (standard library), %d failed verification (%d messages)",
		len(verified), len(failures), len(messageIDs))
	if len(failures) > 0 {
		fail("deliveries failed verification: %s", strings.Join(failures, "; "))
	}
	if len(verified) == 0 {
		fail("no delivery verified")
	}
	var unknown []string
	for id, d := range verified {
		if !messageIDs[id] {
			unknown = append(unknown, id)
		}
		if d.event.ExternalConversationId != contactID {
			fail("delivery %s: externalConversationId %q", id, d.event.ExternalConversationId)
		}
	}
	sort.Strings(unknown)
	if len(unknown) > 0 {
		fail("webhook-id %v is no messageId of the conversation", unknown)
	}
	if len(missing) > 0 {
		fail("messages %v were not delivered within %v", missing, deliveryTimeout)
	}
	spoken := verified[first.MessageId]
	text := eventText(spoken.event)
	if text != first.Text || strings.TrimSpace(text) == "" {
		fail("delivery %s has text %q, want %q", first.MessageId, text, first.Text)
	}
	step("delivery %s (%s): %q", first.MessageId, spoken.header.Get("webhook-timestamp"), text)

	// The same delivery with one byte of its body changed must fail verification.
	changed := append([]byte(nil), spoken.body...)
	changed[len(changed)/2] ^= 0x01
	if err := hook.webhook.Verify(changed, spoken.header, time.Now()); err == nil {
		fail("a delivery with one byte of the body changed passed verification")
	}
	if err := hook.webhook.Verify(spoken.body, spoken.header, time.Now()); err != nil {
		fail("the unchanged delivery no longer verifies: %v", err) // the check above must not be vacuous
	}
	step("webhook: a delivery with one byte changed fails verification")

	log, resp, err := client.AdminAPI.ListDeliveries(admin, tenantID).Execute()
	check("listDeliveries", 200, resp, err)
	if len(log.Items) > 0 {
		fail("the delivery log has failures: %+v", log.Items)
	}
}

// First steps with the generated Go client (openapi-generator, package callscribe).
//
// Sets up a tenant from nothing with the admin token, then transcribes one call with the
// tenant's API key, exactly as an integration would: every call goes through the client
// that scripts/generate-sdks generates from openapi/openapi.json. scripts/test-sdks puts
// this module and the generated one in a Go workspace (GOWORK). Environment:
// CALLSCRIBE_URL, CALLSCRIBE_ADMIN_TOKEN, CALLSCRIBE_KVS_URL, CALLSCRIBE_STREAM_ARN,
// CALLSCRIBE_CONTACT_ID (the ContactId the stream's fragments carry, as Connect's event
// gives it).
// Prints each step; exits 1 at the first answer that is not what the API promises.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	callscribe "callscribe.local/sdk/go"
)

const pollTimeout = 60 * time.Second

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

	connect := callscribe.NewAmazonConnectParams(streamArn)
	connect.SetStartSelectorType(callscribe.STARTSELECTORTYPE_EARLIEST)
	start := callscribe.NewStartStreamingRequest("amazonconnect", contactID, "customer-go", "agent-go", *connect)
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
		StopStreamingRequest(*callscribe.NewStopStreamingRequest("amazonconnect", contactID)).Execute()
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

	// Errors decode into ErrorBody with the contract's code.
	missing := callscribe.NewAmazonConnectParams("arn:aws:kinesisvideo:us-east-1:000000000000:stream/no-such-stream/0")
	_, resp, err = client.StreamingAPI.StartStreaming(api).StartStreamingRequest(
		*callscribe.NewStartStreamingRequest("amazonconnect", newUUID(), "customer-go", "agent-go", *missing)).Execute()
	body := expectError("startStreaming on an unknown stream", 422, "422-01", resp, err)
	step("unknown stream: %s %s (request %s)", body.Error.Code, body.Error.Message, body.Error.RequestId)

	bad := context.WithValue(context.Background(), callscribe.ContextAPIKeys,
		map[string]callscribe.APIKey{"ApiKey": {Key: "cs_nope_nope"}})
	_, resp, err = client.ConversationsAPI.GetConversationMessages(bad).ExternalId(contactID).Execute()
	body = expectError("a bad API key", 401, "401-01", resp, err)
	step("bad API key: %s %s", body.Error.Code, body.Error.Message)
	step("OK")
}

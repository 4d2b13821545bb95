package deployclient

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// zatoPath is stock Zato's IDE deployment endpoint.
const zatoPath = "/ide-deploy"

// zatoReply is {"zato_ide_deploy_create_response": {"success": true, "msg": "..."}}; this project's server adds
// deployment_id, status and servers, read when present.
type zatoReply struct {
	Response struct {
		Success      bool           `json:"success"`
		Msg          string         `json:"msg"`
		DeploymentID int64          `json:"deployment_id"`
		Servers      []ServerStatus `json:"servers"`
	} `json:"zato_ide_deploy_create_response"`
}

// zatoPost sends body to /ide-deploy. A 4xx/5xx that still carries Zato's reply is decoded as one.
func (c *Client) zatoPost(parent context.Context, p retryPolicy, body any) (zatoReply, error) {
	ctx, cancel := c.withTimeout(parent, 0)
	defer cancel()
	r := c.req(ctx, p)
	if body != nil {
		r.SetHeader("Content-Type", "application/json").SetBody(body)
	}
	resp, err := r.Post(zatoPath)
	if err != nil {
		return zatoReply{}, c.netErr(parent, http.MethodPost, zatoPath, err)
	}
	var rep zatoReply
	decodeErr := json.Unmarshal(resp.Body(), &rep)
	if resp.IsError() {
		if decodeErr == nil && rep.Response.Msg != "" && resp.StatusCode() != http.StatusUnauthorized && resp.StatusCode() != http.StatusForbidden {
			return zatoReply{}, &APIError{Status: resp.StatusCode(), Code: "zato", Message: rep.Response.Msg}
		}
		return zatoReply{}, apiError(resp.StatusCode(), resp.Body())
	}
	if decodeErr != nil {
		return zatoReply{}, fmt.Errorf("POST %s: not a Zato answer: %w", zatoPath, decodeErr)
	}
	return rep, nil
}

func (c *Client) zatoUpload(ctx context.Context, name string, source []byte) (Deployment, error) {
	body := map[string]string{"payload_name": name, "payload": base64.StdEncoding.EncodeToString(source)}
	rep, err := c.zatoPost(ctx, retryNotSent, body) // stock Zato knows no idempotency key
	if err != nil {
		return Deployment{}, fmt.Errorf("upload %s to Zato: %w", name, err)
	}
	d := Deployment{
		ID: rep.Response.DeploymentID, Module: name, Action: "deploy", Origin: "zato-ide", Done: true,
		Status: StatusAccepted, Message: rep.Response.Msg, Servers: rep.Response.Servers,
	}
	if !rep.Response.Success {
		d.Status = StatusFailed
	}
	return d, nil
}

func (c *Client) zatoPing(ctx context.Context) error {
	rep, err := c.zatoPost(ctx, retrySafe, nil)
	if err != nil {
		return fmt.Errorf("ping Zato: %w", err)
	}
	if !rep.Response.Success || !strings.Contains(strings.ToLower(rep.Response.Msg), "ping") {
		return fmt.Errorf("ping Zato: unexpected answer %q", rep.Response.Msg)
	}
	return nil
}

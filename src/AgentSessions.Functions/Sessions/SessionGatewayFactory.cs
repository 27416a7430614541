using AgentSessions.Functions.Messages;
using AgentSessions.Functions.Webhooks;
using Microsoft.DurableTask.Client;

namespace AgentSessions.Functions.Sessions;

/// <summary>The Durable client arrives per invocation as a binding, so gateways are made per request.</summary>
public sealed class SessionGatewayFactory(
    IMessageStore messages, ISessionClaims claims, SessionsOptions options, TimeProvider time, WebhookOptions? webhooks = null)
{
    public SessionGateway Create(DurableTaskClient client) => new(client, messages, claims, options, time, webhooks ?? new WebhookOptions());
}

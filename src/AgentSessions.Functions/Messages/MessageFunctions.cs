using System.Text.Json;
using AgentSessions.Core.Sessions;
using AgentSessions.Functions.Auth;
using AgentSessions.Functions.Http;
using AgentSessions.Functions.Sessions;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask.Client;

namespace AgentSessions.Functions.Messages;

/// <summary>HTTP endpoints for sending a message to a session and reading its transcript.</summary>
public sealed class MessageFunctions(ApiKeyAuthenticator auth, SessionGatewayFactory gateways, IMessageStore store, SessionsOptions options)
{
    public const int MaxMessageLength = 10_000;
    /// <summary>
    /// The SDKs' task helpers read a whole transcript in one call without paging, so with no
    /// <c>limit</c> the answer holds every message.
    /// </summary>
    public const int MaxPageSize = 100_000;

    [Function("SendMessage")]
    public async Task<IActionResult> SendAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/sessions/{sessionId}/message")] HttpRequest request,
        string sessionId,
        [DurableClient] DurableTaskClient client,
        CancellationToken cancellationToken)
    {
        var owner = auth.Authenticate(request);
        var id = SessionFunctions.RequireSessionId(sessionId);
        var fields = new JsonFields(await JsonBody.ReadObjectAsync(request, options.MaxBodyBytes, allowEmpty: false, cancellationToken));
        var text = fields.RequiredString("message", 1, MaxMessageLength);
        var startUrl = fields.OptionalHttpUrl("start_url", SessionFunctions.MaxUrlLength)?.ToString();

        var ack = await gateways.Create(client).SendAsync(owner, id, CommandEnvelope.Message, text, startUrl, cancellationToken);
        return ack.Pending
            ? ApiResults.Json(StatusCodes.Status202Accepted, new CommandBody(true, "Message accepted; not applied yet", ack.View.Status, Pending: true),
                ApiJsonContext.Default.CommandBody)
            : ApiResults.Json(StatusCodes.Status200OK, new SuccessBody(true, "Message sent successfully"), ApiJsonContext.Default.SuccessBody);
    }

    [Function("GetMessages")]
    public async Task<IActionResult> GetAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/sessions/{sessionId}/messages")] HttpRequest request,
        string sessionId,
        [DurableClient] DurableTaskClient client,
        CancellationToken cancellationToken)
    {
        var owner = auth.Authenticate(request);
        var id = SessionFunctions.RequireSessionId(sessionId);
        var afterId = Query.Long(request, "after_id", 0, 0, long.MaxValue);
        var limit = (int)Query.Long(request, "limit", MaxPageSize, 1, MaxPageSize);
        var sanitize = Query.Bool(request, "sanitize", true);

        // Status first: a transcript read after it can only be newer, never missing what the status implies.
        var view = await gateways.Create(client).GetAsync(owner, id, cancellationToken);
        var stored = await store.ReadAsync(SessionIds.InstanceId(owner, id), afterId, limit, cancellationToken);
        var messages = stored.Select(m => ToBody(sanitize ? MessageSanitizer.Sanitize(m) : m)).ToList();
        return ApiResults.Json(StatusCodes.Status200OK, new MessagesBody(messages, view.Status, HasAgent: true, HasAgentCamel: true),
            ApiJsonContext.Default.MessagesBody);
    }

    private static MessageBody ToBody(SessionMessage message) =>
        new(message.Id, message.Type, message.Content, WireTime.Format(message.Timestamp), message.Metadata);

}

/// <summary>
/// What <c>sanitize=true</c> removes: control characters (other than newline and tab) and ANSI
/// escape sequences from text content, and metadata keys that start with an underscore, which
/// agents use for internal data.
/// </summary>
public static class MessageSanitizer
{
    public static SessionMessage Sanitize(SessionMessage message) => message with
    {
        Content = message.Content.ValueKind == JsonValueKind.String
            ? JsonSerializer.SerializeToElement(CleanText(message.Content.GetString()!))
            : message.Content,
        Metadata = DropInternalKeys(message.Metadata),
    };

    public static string CleanText(string text)
    {
        var cleaned = System.Text.RegularExpressions.Regex.Replace(text, @"\x1B\[[0-?]*[ -/]*[@-~]", string.Empty);
        return string.Concat(cleaned.Where(c => !char.IsControl(c) || c is '\n' or '\t' or '\r'));
    }

    private static JsonElement DropInternalKeys(JsonElement metadata)
    {
        if (metadata.ValueKind != JsonValueKind.Object || !metadata.EnumerateObject().Any(p => p.Name.StartsWith('_')))
        {
            return metadata;
        }

        var kept = metadata.EnumerateObject().Where(p => !p.Name.StartsWith('_')).ToDictionary(p => p.Name, p => p.Value);
        return JsonSerializer.SerializeToElement(kept);
    }
}

using System.Text.Json;
using AgentSessions.Functions.Tests.Http;
using AgentSessions.Functions.Tests.Infrastructure;

namespace AgentSessions.Functions.Tests.Webhooks;

/// <summary>The webhook routes as one caller sees them, each request run through <see cref="HttpCall"/> against its function.</summary>
public sealed class WebhookHttp(SessionTestHost host, string? authorization)
{
    public static WebhookHttp Alice(SessionTestHost host) => new(host, "Bearer " + SessionTestHost.AliceKey);

    public static WebhookHttp Bob(SessionTestHost host) => new(host, "Bearer " + SessionTestHost.BobKey);

    public static WebhookHttp Anonymous(SessionTestHost host) => new(host, null);

    public Task<HttpAnswer> LogAsync(string sessionId, string? limit = null)
    {
        var call = new HttpCall("GET", $"/v1/sessions/{sessionId}/webhooks").Authorization(authorization);
        if (limit is not null)
        {
            call.Query("limit", limit);
        }

        return call.InvokeAsync(r => host.WebhookFunctions.GetAsync(r, sessionId, host.Client, default));
    }

    public Task<HttpAnswer> RedeliverAsync(string sessionId, string eventId) =>
        new HttpCall("POST", $"/v1/sessions/{sessionId}/webhooks/{eventId}/redeliver").Authorization(authorization)
            .InvokeAsync(r => host.WebhookFunctions.RedeliverAsync(r, sessionId, eventId, host.Client, default));

    /// <summary>Creates a session sending webhooks to <paramref name="url"/>; returns its id.</summary>
    public static async Task<string> CreateSessionAsync(SessionTestHost host, Uri url, string? goal = null)
    {
        var body = new Dictionary<string, string> { ["webhook_url"] = url.ToString() };
        if (goal is not null)
        {
            body["goal"] = goal;
        }

        return (await SessionsApi.Alice(host).CreateAsync(JsonSerializer.Serialize(body))).Expect(201).String("session_id");
    }

    /// <summary>Polls the log over HTTP until <paramref name="done"/> holds.</summary>
    public Task<JsonElement> WaitForLogAsync(string sessionId, Func<JsonElement, bool> done, string what, TimeSpan? within = null) =>
        Eventually.ValueAsync(async () => (await LogAsync(sessionId)).Expect(200).Json.Clone(), done, within, what);

    public static IEnumerable<JsonElement> Events(JsonElement log) => log.GetProperty("events").EnumerateArray();
}

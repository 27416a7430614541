using System.Text.Json;
using System.Text.RegularExpressions;
using AgentSessions.Functions.Tests.Infrastructure;

namespace AgentSessions.Functions.Tests.Http;

/// <summary>
/// The public routes of the API as one caller sees them. With a <see cref="ApiTestServer"/> each request goes over a
/// real connection to it; without one, <see cref="HttpCall"/> runs it against the function method that serves the route.
/// </summary>
public sealed partial class SessionsApi(SessionTestHost host, string? authorization, ApiTestServer? server = null)
{
    /// <summary>A goal the scripted agent keeps working on for minutes: the session stays running.</summary>
    public const string LongGoal = "[steps=1000] [delay=200] long research task";

    /// <summary>A goal the scripted agent finishes in three quick steps.</summary>
    public const string ShortGoal = "[steps=3] short task";

    public static SessionsApi Alice(SessionTestHost host, ApiTestServer? server = null) => new(host, "Bearer " + SessionTestHost.AliceKey, server);

    public static SessionsApi Bob(SessionTestHost host, ApiTestServer? server = null) => new(host, "Bearer " + SessionTestHost.BobKey, server);

    /// <summary>The same routes for another Authorization header value (null sends none).</summary>
    public SessionsApi As(string? authorizationHeader) => new(host, authorizationHeader, server);

    private Task<HttpAnswer> Run(HttpCall call, Func<Microsoft.AspNetCore.Http.HttpRequest, Task<Microsoft.AspNetCore.Mvc.IActionResult>> function) =>
        server is null ? call.InvokeAsync(function) : call.SendAsync(server);

    /// <summary>The names of every authenticated endpoint, for theories.</summary>
    public static readonly string[] Endpoints =
        ["create", "list", "get", "status", "pause", "resume", "cancel", "message", "messages", "delete", "delete-all"];

    public static TheoryData<string> EndpointData()
    {
        var data = new TheoryData<string>();
        foreach (var endpoint in Endpoints)
        {
            data.Add(endpoint);
        }

        return data;
    }

    private HttpCall Call(string method, string path) => new HttpCall(method, path).Authorization(authorization);

    public Task<HttpAnswer> CreateAsync(string? json = null) => CreateAsync(CreateCall(json));

    public HttpCall CreateCall(string? json = null) => Call("POST", "/v1/sessions").Json(json);

    public Task<HttpAnswer> CreateAsync(HttpCall call) =>
        Run(call, r => host.SessionFunctions.CreateAsync(r, host.Client, default));

    public Task<HttpAnswer> ListAsync() =>
        Run(Call("GET", "/v1/sessions"), r => host.SessionFunctions.ListAsync(r, host.Client, default));

    public Task<HttpAnswer> GetAsync(string id) =>
        Run(Call("GET", $"/v1/sessions/{id}"), r => host.SessionFunctions.GetAsync(r, id, host.Client, default));

    public Task<HttpAnswer> StatusAsync(string id) =>
        Run(Call("GET", $"/v1/sessions/{id}/status"), r => host.SessionFunctions.GetStatusAsync(r, id, host.Client, default));

    public Task<HttpAnswer> PauseAsync(string id) =>
        Run(Call("POST", $"/v1/sessions/{id}/pause"), r => host.SessionFunctions.PauseAsync(r, id, host.Client, default));

    public Task<HttpAnswer> ResumeAsync(string id) =>
        Run(Call("POST", $"/v1/sessions/{id}/resume"), r => host.SessionFunctions.ResumeAsync(r, id, host.Client, default));

    public Task<HttpAnswer> CancelAsync(string id) =>
        Run(Call("POST", $"/v1/sessions/{id}/cancel"), r => host.SessionFunctions.CancelAsync(r, id, host.Client, default));

    public Task<HttpAnswer> MessageAsync(string id, string? json) =>
        Run(Call("POST", $"/v1/sessions/{id}/message").Json(json), r => host.MessageFunctions.SendAsync(r, id, host.Client, default));

    public Task<HttpAnswer> SendTextAsync(string id, string text) =>
        MessageAsync(id, JsonSerializer.Serialize(new Dictionary<string, string> { ["message"] = text }));

    public Task<HttpAnswer> MessagesAsync(string id, params (string Name, string Value)[] query)
    {
        var call = Call("GET", $"/v1/sessions/{id}/messages");
        foreach (var (name, value) in query)
        {
            call.Query(name, value);
        }

        return Run(call, r => host.MessageFunctions.GetAsync(r, id, host.Client, default));
    }

    public Task<HttpAnswer> DeleteAsync(string id) =>
        Run(Call("DELETE", $"/v1/sessions/{id}"), r => host.SessionFunctions.DeleteAsync(r, id, host.Client, default));

    public Task<HttpAnswer> DeleteAllAsync() =>
        Run(Call("DELETE", "/v1/sessions"), r => host.SessionFunctions.DeleteAllAsync(r, host.Client, default));

    /// <summary>Calls the named endpoint on <paramref name="id"/> with a body valid for it.</summary>
    public Task<HttpAnswer> InvokeAsync(string endpoint, string id) => endpoint switch
    {
        "create" => CreateAsync("""{"agent_name":"agi-0"}"""),
        "list" => ListAsync(),
        "get" => GetAsync(id),
        "status" => StatusAsync(id),
        "pause" => PauseAsync(id),
        "resume" => ResumeAsync(id),
        "cancel" => CancelAsync(id),
        "message" => SendTextAsync(id, "hello"),
        "messages" => MessagesAsync(id),
        "delete" => DeleteAsync(id),
        "delete-all" => DeleteAllAsync(),
        _ => throw new ArgumentOutOfRangeException(nameof(endpoint), endpoint, "unknown endpoint"),
    };

    /// <summary>Creates a session and returns its id, failing unless the answer is 201.</summary>
    public async Task<string> CreateIdAsync(string? goal = null)
    {
        var json = goal is null ? "{}" : JsonSerializer.Serialize(new Dictionary<string, string> { ["goal"] = goal });
        var answer = (await CreateAsync(json)).Expect(201);
        return answer.String("session_id");
    }

    public async Task<string> StatusOfAsync(string id) => (await StatusAsync(id)).Expect(200).String("status");

    /// <summary>Polls GET …/status until it shows <paramref name="status"/>, failing after the deadline.</summary>
    public Task<string> WaitForStatusAsync(string id, string status, TimeSpan? within = null) =>
        Eventually.ValueAsync(() => StatusOfAsync(id), s => s == status, within, $"session {id} to show {status} over HTTP");

    [GeneratedRegex(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")]
    public static partial Regex WireTime();

    [GeneratedRegex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
    public static partial Regex LowercaseUuid();

    public static readonly string[] Statuses = ["ready", "running", "waiting_for_input", "paused", "finished", "error"];
}

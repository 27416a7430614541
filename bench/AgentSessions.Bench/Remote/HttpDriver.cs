using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace AgentSessions.Bench.Remote;

/// <summary>The workload over the public HTTP API (<c>/v1/sessions/…</c>); outcomes are named by HTTP status (and error code).</summary>
public sealed class HttpDriver(HttpClient http, string agentName, int maxSteps) : IMessageDriver
{
    public string Name => "remote";

    public static HttpClient CreateClient(Uri baseUrl, string key, TimeSpan timeout)
    {
        var handler = new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            MaxConnectionsPerServer = 1024,
            AutomaticDecompression = DecompressionMethods.All,
        };
        var client = new HttpClient(handler)
        {
            BaseAddress = new Uri(baseUrl.ToString().TrimEnd('/') + "/"),
            Timeout = timeout,
        };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        client.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        return client;
    }

    public async Task<(CallOutcome Outcome, string? Session)> CreateAsync(string goal, CancellationToken cancellationToken)
    {
        var body = new JsonObject { ["agent_name"] = agentName, ["goal"] = goal, ["max_steps"] = maxSteps };
        using var response = await http.PostAsync("v1/sessions", Json(body), cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        if (response.StatusCode != HttpStatusCode.Created)
        {
            return (CallOutcome.Failure(Describe(response.StatusCode, text)), null);
        }

        using var document = JsonDocument.Parse(text);
        var id = document.RootElement.GetProperty("session_id").GetString();
        var status = document.RootElement.TryGetProperty("status", out var s) ? s.GetString() : null;
        return status is "running" or "waiting_for_input"
            ? (CallOutcome.Success("201"), id)
            : (CallOutcome.Failure($"201 but {status}"), id);
    }

    public async Task<CallOutcome> CommandAsync(string session, string kind, string? text, CancellationToken cancellationToken)
    {
        var content = kind == Workload.Message ? Json(new JsonObject { ["message"] = text }) : null;
        using var response = await http.PostAsync($"v1/sessions/{session}/{kind}", content, cancellationToken);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        return response.StatusCode == HttpStatusCode.OK
            ? CallOutcome.Success()
            : CallOutcome.Failure(Describe(response.StatusCode, body));
    }

    public async Task<(CallOutcome Outcome, IReadOnlyList<MessageRef> Messages)> ReadMessagesAsync(string session, long afterId, CancellationToken cancellationToken)
    {
        using var response = await http.GetAsync($"v1/sessions/{session}/messages?after_id={afterId}", cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            return (CallOutcome.Failure(Describe(response.StatusCode, text)), []);
        }

        using var document = JsonDocument.Parse(text);
        var messages = document.RootElement.GetProperty("messages").EnumerateArray()
            .Select(m => new MessageRef(m.GetProperty("id").GetInt64(), m.GetProperty("type").GetString() ?? string.Empty))
            .ToList();
        return (CallOutcome.Success(), messages);
    }

    public async Task DeleteAsync(string session, CancellationToken cancellationToken)
    {
        using var response = await http.DeleteAsync($"v1/sessions/{session}", cancellationToken);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new HttpRequestException($"DELETE answered {(int)response.StatusCode}", null, response.StatusCode);
        }
    }

    private static StringContent Json(JsonObject body) => new(body.ToJsonString(), Encoding.UTF8, "application/json");

    /// <summary>"409 already_paused", "202 pending", "500", …: the status and, where the body has one, the error code.</summary>
    private static string Describe(HttpStatusCode status, string body)
    {
        var code = ((int)status).ToString(System.Globalization.CultureInfo.InvariantCulture);
        try
        {
            using var document = JsonDocument.Parse(body);
            if (document.RootElement.ValueKind == JsonValueKind.Object)
            {
                if (document.RootElement.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.String)
                {
                    return $"{code} {error.GetString()}";
                }

                if (document.RootElement.TryGetProperty("pending", out var pending) && pending.ValueKind == JsonValueKind.True)
                {
                    return $"{code} pending";
                }
            }
        }
        catch (JsonException)
        {
        }

        return code;
    }
}

using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using AgentSessions.Core.Agents;
using AgentSessions.Core.Sessions;

namespace AgentSessions.Functions.Agents;

/// <summary>The body of <c>POST {Url}</c>: one step. See HTTP-AGENT-PROTOCOL.md.</summary>
internal sealed record HttpAgentStepRequest(
    string SessionId,
    string AgentName,
    string Task,
    int TaskNumber,
    int Step,
    int MaxSteps,
    IReadOnlyList<string> NewUserMessages,
    string? StartUrl,
    string? State)
{
    public static HttpAgentStepRequest From(StepRequest request) => new(
        request.SessionId, request.AgentName, request.Task, request.TaskNumber, request.StepNumber, request.MaxSteps,
        request.NewUserMessages, request.StartUrl, request.AgentState);
}

/// <summary>The body of <c>POST {Url}/navigate</c>.</summary>
internal sealed record HttpAgentNavigateRequest(string SessionId, string Url);

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(HttpAgentStepRequest))]
[JsonSerializable(typeof(HttpAgentNavigateRequest))]
internal sealed partial class HttpAgentJsonContext : JsonSerializerContext;

/// <summary>
/// Reads and checks the agent's answers. Every rule broken yields an <see cref="AgentPermanentException"/> whose
/// message names the field and what was wrong with it.
/// </summary>
internal static class HttpAgentResponses
{
    /// <summary>
    /// Deep enough for any sensible message, shallow enough that the step result, once wrapped in the
    /// orchestration's own JSON, stays within System.Text.Json's default reading depth of 64.
    /// </summary>
    public const int MaxDepth = 32;

    private static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = MaxDepth };

    private static readonly IReadOnlyDictionary<string, AgentStepStatus> Statuses = new Dictionary<string, AgentStepStatus>(StringComparer.Ordinal)
    {
        ["running"] = AgentStepStatus.Running,
        ["waiting_for_input"] = AgentStepStatus.WaitingForInput,
        ["finished"] = AgentStepStatus.Finished,
        ["error"] = AgentStepStatus.Error,
    };

    private static readonly string[] MessageTypeOrder = [MessageTypes.Thought, MessageTypes.Question, MessageTypes.Done, MessageTypes.Error, MessageTypes.Log];

    public static AgentStepResult ReadStep(string agentName, int statusCode, ReadOnlyMemory<byte> body)
    {
        using var document = Parse(agentName, statusCode, "step", body);
        var root = document.RootElement;
        var problem = (string what) => Invalid(agentName, statusCode, "step", what);

        if (!root.TryGetProperty("status", out var statusElement))
        {
            throw problem("\"status\" is missing; expected one of " + Quoted(Statuses.Keys));
        }

        if (statusElement.ValueKind != JsonValueKind.String || !Statuses.TryGetValue(statusElement.GetString()!, out var status))
        {
            throw problem($"\"status\" is {Describe(statusElement)}; expected one of {Quoted(Statuses.Keys)}");
        }

        var messages = ImmutableList.CreateBuilder<AgentMessage>();
        if (root.TryGetProperty("messages", out var messagesElement) && messagesElement.ValueKind != JsonValueKind.Null)
        {
            if (messagesElement.ValueKind != JsonValueKind.Array)
            {
                throw problem($"\"messages\" is {Describe(messagesElement)}; expected an array");
            }

            var index = 0;
            foreach (var item in messagesElement.EnumerateArray())
            {
                messages.Add(ReadMessage(item, $"messages[{index}]", problem));
                index++;
            }
        }

        string? state = null;
        if (root.TryGetProperty("state", out var stateElement) && stateElement.ValueKind != JsonValueKind.Null)
        {
            if (stateElement.ValueKind != JsonValueKind.String)
            {
                throw problem($"\"state\" is {Describe(stateElement)}; expected a string or null");
            }

            state = stateElement.GetString()!;
            if (state.Length > RunAgentStepActivity.MaxAgentStateChars)
            {
                throw problem(string.Create(CultureInfo.InvariantCulture,
                    $"\"state\" has {state.Length} characters; the limit is {RunAgentStepActivity.MaxAgentStateChars}"));
            }
        }

        return new AgentStepResult(status, messages.ToImmutable(), state);
    }

    public static AgentNavigation ReadNavigation(string agentName, int statusCode, ReadOnlyMemory<byte> body)
    {
        using var document = Parse(agentName, statusCode, "navigate", body);
        var root = document.RootElement;
        if (!root.TryGetProperty("current_url", out var url) || url.ValueKind != JsonValueKind.String || url.GetString()!.Length == 0)
        {
            throw Invalid(agentName, statusCode, "navigate", root.TryGetProperty("current_url", out var bad)
                ? $"\"current_url\" is {Describe(bad)}; expected a non-empty string"
                : "\"current_url\" is missing; expected a non-empty string");
        }

        return new AgentNavigation(url.GetString()!);
    }

    public static JsonElement ReadScreenshot(string agentName, int statusCode, ReadOnlyMemory<byte> body)
    {
        using var document = Parse(agentName, statusCode, "screenshot", body);
        var root = document.RootElement;
        if (!root.TryGetProperty("screenshot", out var screenshot) || screenshot.ValueKind != JsonValueKind.String || screenshot.GetString()!.Length == 0)
        {
            throw Invalid(agentName, statusCode, "screenshot", root.TryGetProperty("screenshot", out var bad)
                ? $"\"screenshot\" is {Describe(bad)}; expected a non-empty string (base64 image or data: URL)"
                : "\"screenshot\" is missing; expected a non-empty string (base64 image or data: URL)");
        }

        return root.Clone();
    }

    private static AgentMessage ReadMessage(JsonElement item, string path, Func<string, AgentPermanentException> problem)
    {
        if (item.ValueKind != JsonValueKind.Object)
        {
            throw problem($"{path} is {Describe(item)}; expected an object with \"type\" and \"content\"");
        }

        if (!item.TryGetProperty("type", out var type))
        {
            throw problem($"{path}.type is missing; expected one of {Quoted(MessageTypeOrder)}");
        }

        if (type.ValueKind != JsonValueKind.String || !MessageTypes.FromAgent.Contains(type.GetString()!))
        {
            throw problem($"{path}.type is {Describe(type)}; expected one of {Quoted(MessageTypeOrder)}");
        }

        if (!item.TryGetProperty("content", out var content))
        {
            throw problem($"{path}.content is missing; expected a string or a JSON object");
        }

        if (content.ValueKind is not (JsonValueKind.String or JsonValueKind.Object))
        {
            throw problem($"{path}.content is {Describe(content)}; expected a string or a JSON object");
        }

        JsonElement? metadata = null;
        if (item.TryGetProperty("metadata", out var meta) && meta.ValueKind != JsonValueKind.Null)
        {
            if (meta.ValueKind != JsonValueKind.Object)
            {
                throw problem($"{path}.metadata is {Describe(meta)}; expected a JSON object or null");
            }

            metadata = meta.Clone();
        }

        return new AgentMessage(type.GetString()!, content.Clone(), metadata);
    }

    private static JsonDocument Parse(string agentName, int statusCode, string call, ReadOnlyMemory<byte> body)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body, DocumentOptions);
        }
        catch (JsonException ex)
        {
            var reason = body.IsEmpty ? "the body is empty" : $"the body is not JSON ({ex.Message})";
            throw Invalid(agentName, statusCode, call, reason, ex);
        }

        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            var kind = Describe(document.RootElement);
            document.Dispose();
            throw Invalid(agentName, statusCode, call, $"the body is {kind}; expected a JSON object");
        }

        return document;
    }

    private static AgentPermanentException Invalid(string agentName, int statusCode, string call, string what, Exception? inner = null) =>
        new(agentName, $"Agent '{agentName}' returned an invalid {call} response: {what}.", statusCode, inner);

    /// <summary>A short description of a value for an error message: its kind, and a string's text.</summary>
    private static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => "'" + Shorten(value.GetString()!) + "'",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        _ => "missing",
    };

    private static string Shorten(string text) => text.Length <= 60 ? text : string.Concat(text.AsSpan(0, 57), "...");

    private static string Quoted(IEnumerable<string> values) => string.Join(", ", values);
}

using AgentSessions.Core.Sessions;
using AgentSessions.Functions.Http;

namespace AgentSessions.Functions.Events;

/// <summary>The event names of the stream and the <c>event_types</c> filter over them.</summary>
public static class SessionEventTypes
{
    public const string Step = "step";
    public const string Thought = "thought";
    public const string Question = "question";
    public const string Done = "done";
    public const string Error = "error";
    public const string Log = "log";
    public const string User = "user";
    public const string Paused = "paused";
    public const string Resumed = "resumed";
    public const string Heartbeat = "heartbeat";

    public static readonly IReadOnlyList<string> All = [Step, Thought, Question, Done, Error, Log, User, Paused, Resumed, Heartbeat];

    /// <summary>The event a stored message becomes; null for a type the contract does not know (skipped, never guessed).</summary>
    public static string? ForMessageType(string messageType) => messageType switch
    {
        MessageTypes.Thought => Thought,
        MessageTypes.Question => Question,
        MessageTypes.User => User,
        MessageTypes.Done => Done,
        MessageTypes.Error => Error,
        MessageTypes.Log => Log,
        _ => null,
    };

    /// <summary>DONE and ERROR end the stream, whether or not their event is sent.</summary>
    public static bool EndsStream(string messageType) => messageType is MessageTypes.Done or MessageTypes.Error;
}

/// <summary>Which events a client asked for: <c>event_types</c> as a comma list; empty or absent means all.</summary>
public sealed class EventTypeFilter
{
    public static readonly EventTypeFilter Everything = new(null);

    private readonly HashSet<string>? allowed;

    private EventTypeFilter(HashSet<string>? allowed) => this.allowed = allowed;

    public bool Allows(string eventType) => allowed is null || allowed.Contains(eventType);

    /// <summary>Parses the comma list (names case-insensitive, blanks ignored); an unknown name is a 422 naming it.</summary>
    public static EventTypeFilter Parse(string? raw)
    {
        var names = (raw ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (names.Length == 0)
        {
            return Everything;
        }

        var allowed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in names)
        {
            var known = SessionEventTypes.All.FirstOrDefault(t => string.Equals(t, name, StringComparison.OrdinalIgnoreCase))
                ?? throw ApiException.InvalidField("event_types",
                    $"unknown event type '{Shorten(name)}'; allowed: {string.Join(", ", SessionEventTypes.All)}");
            allowed.Add(known);
        }

        return new EventTypeFilter(allowed);
    }

    private static string Shorten(string text) => text.Length <= 40 ? text : string.Concat(text.AsSpan(0, 37), "...");
}

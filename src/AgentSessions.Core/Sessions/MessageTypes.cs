namespace AgentSessions.Core.Sessions;

/// <summary>Message types of the public API.</summary>
public static class MessageTypes
{
    public const string Thought = "THOUGHT";
    public const string Question = "QUESTION";
    public const string User = "USER";
    public const string Done = "DONE";
    public const string Error = "ERROR";
    public const string Log = "LOG";

    public static readonly IReadOnlySet<string> FromAgent = new HashSet<string>(StringComparer.Ordinal)
    {
        Thought, Question, Done, Error, Log,
    };
}

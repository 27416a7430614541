namespace AgentSessions.Core.Sessions;

/// <summary>The six statuses the public API knows; nothing else may reach the wire.</summary>
public enum SessionStatus
{
    Ready,
    Running,
    WaitingForInput,
    Paused,
    Finished,
    Error,
}

public static class SessionStatusNames
{
    public static string ToWire(this SessionStatus status) => status switch
    {
        SessionStatus.Ready => "ready",
        SessionStatus.Running => "running",
        SessionStatus.WaitingForInput => "waiting_for_input",
        SessionStatus.Paused => "paused",
        SessionStatus.Finished => "finished",
        SessionStatus.Error => "error",
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, null),
    };
}

using System.Collections.Immutable;

namespace AgentSessions.Core.Sessions;

/// <summary>
/// Everything the session's rules need to decide the next command. Kept compact on purpose: it is
/// the orchestration's input at every ContinueAsNew, so transcripts live in the message store, not here.
/// </summary>
/// <param name="Status">The work status. While <paramref name="Paused"/> is set the wire shows
/// <c>paused</c> and this is the status the session returns to on resume; a step that finishes
/// during the pause still updates it.</param>
/// <param name="Held">Messages received while paused, delivered in order on resume.</param>
/// <param name="CurrentUrl">Where the user last navigated the agent's browser.</param>
/// <param name="Dormant">Set when the session expired; an expired session arms no timer until it is used again.</param>
public sealed record SessionState(
    string SessionId,
    string AgentName,
    int MaxSteps,
    DateTimeOffset CreatedAt,
    string? Goal,
    SessionStatus Status,
    bool Paused,
    SessionTask? Task,
    ImmutableList<UserMessage> Held,
    long LastMessageId,
    int TaskCount,
    DateTimeOffset LastActivityAt,
    bool Dormant,
    string? Reason,
    bool Deleted,
    string? CurrentUrl = null)
{
    public const int DefaultMaxSteps = 100;
    public const int MaxStepsLimit = 1000;

    /// <summary>A reason is kept this short in the state (the whole text is in the ERROR message).</summary>
    public const int MaxReasonLength = 300;

    /// <summary>The longest URL the state remembers as the browser's current page (the contract's URL limit).</summary>
    public const int MaxUrlLength = 2000;

    /// <summary>What clients see: <c>paused</c> overlays the work status.</summary>
    public SessionStatus VisibleStatus => Paused ? SessionStatus.Paused : Status;

    public static SessionState New(string sessionId, string agentName, int maxSteps, string? goal, DateTimeOffset now) =>
        new(sessionId, agentName, maxSteps, now, goal, SessionStatus.Ready, Paused: false, Task: null,
            Held: ImmutableList<UserMessage>.Empty, LastMessageId: 0, TaskCount: 0, LastActivityAt: now,
            Dormant: false, Reason: null, Deleted: false);
}

/// <summary>The task the agent is working on.</summary>
/// <param name="StepsStarted">Steps started for this task; compared with max_steps.</param>
/// <param name="StepInFlight">The step number the agent is executing now, if any. Results for
/// any other (task, step) pair are late output of an abandoned step and are discarded.</param>
/// <param name="UnreadInput">User messages the agent has not been given yet.</param>
/// <param name="AgentState">What the agent asked to get back with its next step.</param>
public sealed record SessionTask(
    int Number,
    string Text,
    string? StartUrl,
    int StepsStarted,
    int? StepInFlight,
    ImmutableList<string> UnreadInput,
    string? AgentState = null);

/// <summary>A message a user sent, as the rules need it.</summary>
public sealed record UserMessage(string Text, string? StartUrl);

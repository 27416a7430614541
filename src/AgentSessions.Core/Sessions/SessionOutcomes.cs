using System.Collections.Immutable;
using System.Text.Json;

namespace AgentSessions.Core.Sessions;

/// <summary>What the decider says about one command.</summary>
public abstract record CommandOutcome
{
    public static readonly CommandOutcome Accepted = new AcceptedOutcome();
    public static readonly CommandOutcome Ignored = new IgnoredOutcome();
}

public sealed record AcceptedOutcome : CommandOutcome;

/// <summary>Nothing happened, and nothing should: for instance late output of an abandoned step.</summary>
public sealed record IgnoredOutcome : CommandOutcome;

/// <summary>The session's state forbids the command (HTTP 409).</summary>
public sealed record RejectedOutcome(string Code, string Message) : CommandOutcome;

/// <summary>Error codes of rejected commands, as the contract names them.</summary>
public static class RejectionCodes
{
    public const string AlreadyPaused = "already_paused";
    public const string NotPaused = "not_paused";
    public const string NotRunning = "not_running";

    /// <summary>
    /// The message of a rejection, from its code, the visible status the session was in and whether the command was a
    /// cancel: so a rejection can travel as its code alone and be explained the same way wherever it is read.
    /// </summary>
    public static string Explain(string code, string visibleStatus, bool cancel) => code switch
    {
        AlreadyPaused => "Session is already paused",
        NotPaused => $"Session is {visibleStatus}, not paused",
        NotRunning when cancel => $"Session is {visibleStatus}, no task to cancel",
        NotRunning => $"Session is {visibleStatus}, not running",
        _ => $"Session is {visibleStatus}; the command was refused ({code})",
    };
}

/// <summary>Work the orchestration must do after a decision, in this order.</summary>
public abstract record SessionEffect;

/// <summary>Store these messages. Ids are assigned by the decider, so writing them again is harmless.</summary>
public sealed record AppendMessages(ImmutableList<SessionMessage> Messages) : SessionEffect;

/// <summary>Ask the agent to execute one step.</summary>
public sealed record StartStep(StepRequest Request) : SessionEffect;

/// <summary>The session is deleted: stop all work and end the orchestration.</summary>
public sealed record EndSession : SessionEffect;

/// <summary>One stored message. <paramref name="Content"/> is a JSON string or object.</summary>
public sealed record SessionMessage(long Id, string Type, JsonElement Content, DateTimeOffset Timestamp, JsonElement Metadata);

/// <summary>What an agent is given to execute one step.</summary>
/// <param name="InstanceId">The session's Durable instance id (<c>owner:uuid</c>), the key of its stored messages;
/// filled in by the orchestration, null where the decider made the request.</param>
/// <param name="LastMessageId">The session's last message id when the step was started (every message up to it is
/// stored by then); filled in by the orchestration, null where the decider made the request.</param>
public sealed record StepRequest(
    string SessionId,
    string AgentName,
    int TaskNumber,
    int StepNumber,
    int MaxSteps,
    string Task,
    string? StartUrl,
    ImmutableList<string> NewUserMessages,
    string? AgentState = null,
    string? InstanceId = null,
    long? LastMessageId = null);

public sealed record SessionDecision(SessionState State, CommandOutcome Outcome, ImmutableList<SessionEffect> Effects);

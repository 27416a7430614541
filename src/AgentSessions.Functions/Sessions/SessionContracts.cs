using System.Collections.Immutable;
using AgentSessions.Core.Sessions;

namespace AgentSessions.Functions.Sessions;

/// <summary>
/// A command as it travels to the orchestration in the one external event every command uses.
/// One event name keeps commands in arrival order. A lasting contract: change only additively.
/// </summary>
/// <param name="Id">Chosen by the HTTP side so it can find this command's outcome in the custom status.</param>
public sealed record CommandEnvelope(string Id, string Kind, string? Text = null, string? StartUrl = null)
{
    public const string Message = "message";
    public const string Pause = "pause";
    public const string Resume = "resume";
    public const string Cancel = "cancel";
    public const string Delete = "delete";
    public const string Navigate = "navigate";

    public SessionCommand ToCommand() => Kind switch
    {
        Message => new SendMessage(Text ?? string.Empty, StartUrl),
        Pause => new PauseSession(),
        Resume => new ResumeSession(),
        Cancel => new CancelTask(),
        Delete => new DeleteSession(),
        Navigate => new NavigateTo(Text ?? string.Empty),
        _ => throw new ArgumentOutOfRangeException(nameof(Kind), Kind, "unknown command kind"),
    };
}

/// <summary>Settings fixed when the session is created, so replays never see a changed value.</summary>
/// <param name="WebhookUrl">Where the session's webhook events go, if anywhere.</param>
public sealed record SessionRuntimeSettings(TimeSpan IdleTimeout, int CommandsPerGeneration, string? WebhookUrl = null);

/// <summary>
/// The orchestration's input, for the first generation and every ContinueAsNew after it.
/// <paramref name="Pending"/> carries commands that had arrived but were not applied when the
/// previous generation ended, so none is lost across ContinueAsNew.
/// </summary>
public sealed record SessionInput(
    SessionState State,
    SessionRuntimeSettings Settings,
    ImmutableList<CommandEnvelope> Pending,
    ImmutableList<CommandResult> Results,
    int Generation,
    CommandCounts? Counts = null);

/// <summary>How many user commands the session has applied, over all generations.</summary>
public sealed record CommandCounts(long Applied, long Rejected)
{
    public static readonly CommandCounts Zero = new(0, 0);
}

/// <summary>The outcome of one command, kept in the custom status for the HTTP side to read.</summary>
/// <param name="Outcome">accepted, rejected or ignored.</param>
/// <param name="Status">The visible status right after the command was applied.</param>
public sealed record CommandResult(string Id, string Outcome, string? Code, string? Message, string Status);

/// <summary>
/// What the orchestration publishes as custom status after each command: the session as clients
/// see it plus recent command outcomes. Bounded well under the 16 KB custom status limit.
/// </summary>
public sealed record SessionView(
    string SessionId,
    string AgentName,
    string Status,
    DateTimeOffset CreatedAt,
    string? Goal,
    string? Reason,
    long LastMessageId,
    bool Deleted,
    ImmutableList<CommandResult> Results,
    CommandCounts? Counts = null,
    string? CurrentUrl = null)
{
    /// <summary>Enough for any realistic number of concurrent callers waiting on one session.</summary>
    public const int MaxResults = 64;

    public static SessionView From(SessionState state, ImmutableList<CommandResult> results, CommandCounts? counts = null) => new(
        state.SessionId, state.AgentName, state.VisibleStatus.ToWire(), state.CreatedAt, state.Goal, state.Reason,
        state.LastMessageId, state.Deleted, results, counts ?? CommandCounts.Zero, state.CurrentUrl);
}

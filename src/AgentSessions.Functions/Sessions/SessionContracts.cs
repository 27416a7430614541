using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text.Json.Serialization;
using AgentSessions.Core.Sessions;

namespace AgentSessions.Functions.Sessions;

/// <summary>
/// A command as it travels to the orchestration in the one external event every command uses.
/// One event name keeps commands in arrival order. A lasting contract: change only additively.
/// </summary>
/// <param name="Id">Chosen by the HTTP side so it can find this command's outcome in the custom status, and so the
/// orchestration can tell a redelivered event from a new command.</param>
public sealed record CommandEnvelope(string Id, string Kind, string? Text = null, string? StartUrl = null)
{
    public const string Message = "message";
    public const string Pause = "pause";
    public const string Resume = "resume";
    public const string Cancel = "cancel";
    public const string Delete = "delete";
    public const string Navigate = "navigate";

    /// <summary>Only in a restarted orchestration's input, ahead of the command that restarted it (see <see cref="RecoverSession"/>).</summary>
    public const string Recover = "recover";

    /// <summary>A new command id: 96 random bits, 16 URL-safe characters (short, because the custom status lists them).</summary>
    public static string NewId() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(12)).Replace('+', '-').Replace('/', '_');

    public SessionCommand ToCommand() =>
        ToCommandOrNull() ?? throw new ArgumentOutOfRangeException(nameof(Kind), Kind, "unknown command kind");

    /// <summary>
    /// The command, or null for a kind this version does not know (sent by a newer version during a rolling deploy, or
    /// raised by hand): such a command is answered as ignored, and must neither wedge nor fail the session.
    /// </summary>
    public SessionCommand? ToCommandOrNull() => Kind switch
    {
        Message => new SendMessage(Text ?? string.Empty, StartUrl),
        Pause => new PauseSession(),
        Resume => new ResumeSession(),
        Cancel => new CancelTask(),
        Delete => new DeleteSession(),
        Navigate => new NavigateTo(Text ?? string.Empty),
        Recover => new RecoverSession(Text ?? "unknown failure"),
        _ => null,
    };
}

/// <summary>Settings fixed when the session is created, so replays never see a changed value.</summary>
/// <param name="WebhookUrl">Where the session's webhook events go, if anywhere.</param>
/// <param name="StepTimeout">How long one attempt of an agent step may take (the agent's timeout); generations from
/// before <see cref="SessionInput.UntimedStepsLoopVersion"/> run a step again when an attempt has not reported back
/// within this plus <see cref="SessionRuntimeSettings.StepDeadlineMargin"/>.</param>
public sealed record SessionRuntimeSettings(TimeSpan IdleTimeout, int CommandsPerGeneration, string? WebhookUrl = null, TimeSpan? StepTimeout = null)
{
    /// <summary>For sessions created before the step timeout was fixed into them.</summary>
    public static readonly TimeSpan DefaultStepTimeout = TimeSpan.FromMinutes(2);

    /// <summary>Time for the step's work item to reach a worker and its result to come back, beyond the agent's own timeout.</summary>
    public static readonly TimeSpan StepDeadlineMargin = TimeSpan.FromSeconds(10);

    [JsonIgnore]
    public TimeSpan StepDeadline => (StepTimeout ?? DefaultStepTimeout) + StepDeadlineMargin;
}

/// <summary>
/// The orchestration's input, for the first generation and every ContinueAsNew after it.
/// <paramref name="Pending"/> carries commands that had arrived but were not applied when the
/// previous generation ended, so none is lost across ContinueAsNew.
/// </summary>
/// <param name="Results">The most recent command outcomes, published again by the next generation so a caller still
/// waiting for one finds it.</param>
/// <param name="Steps">Agent steps the next generation starts at once: the step a decision had just asked for when the
/// generation ended, or one still running when the generation had to end anyway (it is run again).</param>
/// <param name="Seen">Ids of recently applied commands, so an event the backend delivers a second time is recognised.</param>
public sealed record SessionInput(
    SessionState State,
    SessionRuntimeSettings Settings,
    ImmutableList<CommandEnvelope> Pending,
    ImmutableList<CommandResult> Results,
    int Generation,
    CommandCounts? Counts = null,
    ImmutableList<StepRequest>? Steps = null,
    ImmutableList<SeenCommand>? Seen = null,
    int LoopVersion = 0)
{
    /// <summary>From this version on, a generation applies commands that have already arrived in one pass.</summary>
    public const int BatchingLoopVersion = 1;

    /// <summary>
    /// From this version on, a generation races no durable timer against an agent step, and arms the idle timer only
    /// while no step it waits for is running: a timer still pending when the generation continues as new fires into
    /// the next one, where the Azure Storage provider treats it as out of order (returned to the queue for about half
    /// a minute) and can discard a command that arrives in the same batch.
    /// </summary>
    public const int UntimedStepsLoopVersion = 2;

    /// <summary>What this code writes into the inputs it starts (a create, a restart, ContinueAsNew).</summary>
    public const int CurrentLoopVersion = UntimedStepsLoopVersion;
}

/// <summary>A command the orchestration has applied, and when (orchestration time).</summary>
public sealed record SeenCommand(string Id, DateTime At);

/// <summary>How many user commands the session has applied, over all generations.</summary>
public sealed record CommandCounts(long Applied, long Rejected)
{
    public static readonly CommandCounts Zero = new(0, 0);
}

/// <summary>
/// The outcome of one command as the custom status lists it: short names and no texts (a rejection's message is
/// rebuilt from its code with <see cref="RejectionCodes.Explain"/>), because the status holds the last
/// <see cref="SessionStatusSnapshot.MaxResults"/> of them.
/// </summary>
/// <param name="Answer"><c>ok</c>, <c>ignored</c>, or the rejection code.</param>
/// <param name="Status">The visible status right after the command was applied.</param>
public sealed record CommandResult(
    [property: JsonPropertyName("i")] string Id,
    [property: JsonPropertyName("a")] string Answer,
    [property: JsonPropertyName("s")] string Status)
{
    private const string Ok = "ok";
    private const string NotApplied = "ignored";

    /// <summary>accepted, rejected or ignored.</summary>
    [JsonIgnore]
    public string Outcome => Answer switch { Ok => "accepted", NotApplied => "ignored", _ => "rejected" };

    [JsonIgnore]
    public bool IsRejected => Outcome == "rejected";

    /// <summary>The rejection code, for a rejected command.</summary>
    [JsonIgnore]
    public string? Code => IsRejected ? Answer : null;

    public static CommandResult From(string id, CommandOutcome outcome, string status) => new(id, outcome switch
    {
        RejectedOutcome rejected => rejected.Code,
        IgnoredOutcome => NotApplied,
        _ => Ok,
    }, status);
}

/// <summary>
/// What the orchestration publishes as custom status: only what acknowledgements and reads need. Every field is
/// bounded (agent names by the catalog, the reason and URL by the decider, the outcomes by count), and
/// <see cref="Fit"/> checks the serialized size, so the status stays under the Functions host's 16 KB of UTF-16
/// whatever the session has been through.
/// </summary>
public sealed record SessionStatusSnapshot(
    string Status,
    string AgentName,
    DateTimeOffset CreatedAt,
    long LastMessageId,
    bool Deleted,
    string? Reason,
    string? CurrentUrl,
    ImmutableList<CommandResult> Results,
    long Applied,
    long Rejected,
    int TaskCount = 0)
{
    /// <summary>Enough for any realistic number of callers waiting on one session at once.</summary>
    public const int MaxResults = 64;

    /// <summary>
    /// Under the host's 16 KB (16,384 bytes of UTF-16) with a kilobyte to spare. The realistic worst case (every field
    /// at its limit: a 2,000-character URL, a 300-character reason of characters JSON escapes, 64 outcomes with the
    /// longest code and status) is about 14.5 KB, so it fits with nothing given up.
    /// </summary>
    public const int MaxUtf16Bytes = 15 * 1024;

    public static SessionStatusSnapshot From(SessionState state, ImmutableList<CommandResult> results, CommandCounts counts) =>
        new SessionStatusSnapshot(state.VisibleStatus.ToWire(), state.AgentName, state.CreatedAt, state.LastMessageId, state.Deleted,
            state.Reason, state.CurrentUrl, results, counts.Applied, counts.Rejected, state.TaskCount).Fit();

    /// <summary>
    /// The snapshot, made small enough if it is not: by construction it always is, so this only guards against a
    /// field growing beyond what was planned (the URL, then the reason, then old outcomes give way first).
    /// </summary>
    public SessionStatusSnapshot Fit()
    {
        var snapshot = this;
        while (Durable.DurableJson.Utf16Bytes(snapshot) > MaxUtf16Bytes)
        {
            snapshot = snapshot switch
            {
                { CurrentUrl: not null } => snapshot with { CurrentUrl = null },
                { Reason: not null } => snapshot with { Reason = null },
                { Results.Count: > 0 } => snapshot with { Results = snapshot.Results.RemoveAt(0) },
                _ => throw new InvalidOperationException("The session's status does not fit in its limit even without outcomes."),
            };
        }

        return snapshot;
    }
}

/// <summary>
/// The session as the HTTP side reads it: the published snapshot, its id and, where a read asked for it, its goal
/// (kept in the orchestration's input, not in the status).
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
    public static SessionView From(string sessionId, SessionStatusSnapshot snapshot, string? goal) => new(
        sessionId, snapshot.AgentName, snapshot.Status, snapshot.CreatedAt, goal, snapshot.Reason, snapshot.LastMessageId,
        snapshot.Deleted, snapshot.Results, new CommandCounts(snapshot.Applied, snapshot.Rejected), snapshot.CurrentUrl);

    public static SessionView From(SessionState state, ImmutableList<CommandResult> results, CommandCounts? counts = null) =>
        From(state.SessionId, SessionStatusSnapshot.From(state, results, counts ?? CommandCounts.Zero), state.Goal);
}

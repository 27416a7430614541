using AgentSessions.Core.Agents;

namespace AgentSessions.Core.Sessions;

/// <summary>Everything that can happen to a session. Closed set: the decider switches over it.</summary>
public abstract record SessionCommand;

/// <summary>A user message: starts a task, answers a question or becomes input for the next step.</summary>
public sealed record SendMessage(string Text, string? StartUrl = null) : SessionCommand;

public sealed record PauseSession : SessionCommand;

public sealed record ResumeSession : SessionCommand;

public sealed record CancelTask : SessionCommand;

/// <summary>The idle timer fired. <paramref name="IdleFor"/> is only used to explain why.</summary>
public sealed record ExpireSession(TimeSpan IdleFor) : SessionCommand;

/// <summary>The agent finished a step.</summary>
public sealed record CompleteStep(int TaskNumber, int StepNumber, AgentStepResult Result) : SessionCommand;

/// <summary>The agent could not execute a step even after retries.</summary>
public sealed record FailStep(int TaskNumber, int StepNumber, string Error) : SessionCommand;

public sealed record DeleteSession : SessionCommand;

/// <summary>The agent's browser moved to <paramref name="Url"/> at the user's request.</summary>
public sealed record NavigateTo(string Url) : SessionCommand;

/// <summary>
/// The session's orchestration failed and is started again from what was kept: the task that was running is lost,
/// the session shows <c>error</c> with <paramref name="Reason"/>, and the next message starts a new task.
/// </summary>
public sealed record RecoverSession(string Reason) : SessionCommand;

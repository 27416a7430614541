using System.Collections.Immutable;
using System.Text;
using AgentSessions.Core.Sessions;
using AgentSessions.Functions.Durable;
using AgentSessions.Functions.Sessions;

namespace AgentSessions.Functions.Tests.Sessions;

/// <summary>
/// The custom status is bounded by construction: its worst case, built from every field at the contract's limit with
/// the characters that cost most once serialized, stays under the Functions host's 16 KB of UTF-16 and loses nothing.
/// </summary>
public sealed class SessionStatusSnapshotTests(Xunit.Abstractions.ITestOutputHelper output)
{
    /// <summary>The Functions host's limit (RemoteOrchestratorContext.ValidateCustomStatusSize): 16 KB as UTF-16 bytes.</summary>
    private const int HostLimitBytes = 16 * 1024;

    [Fact]
    public void WorstCase_EveryFieldAtItsLimit_FitsWithNothingDropped()
    {
        var snapshot = WorstCase(url: "https://example.com/" + new string('u', SessionState.MaxUrlLength - 20),
            reason: new string('"', SessionState.MaxReasonLength));

        var fitted = snapshot.Fit();

        var bytes = DurableJson.Utf16Bytes(fitted);
        output.WriteLine($"worst case: {bytes} bytes of UTF-16");
        Assert.InRange(bytes, 1, SessionStatusSnapshot.MaxUtf16Bytes);
        Assert.True(bytes < HostLimitBytes);
        // Fitting dropped nothing: the realistic worst case fits as it is.
        Assert.Equal(snapshot.CurrentUrl, fitted.CurrentUrl);
        Assert.Equal(snapshot.Reason, fitted.Reason);
        Assert.Equal(SessionStatusSnapshot.MaxResults, fitted.Results.Count);
    }

    [Fact]
    public void WorstCase_WithCharactersThatSerializeSixfold_StillFits_GivingUpTheUrlFirst()
    {
        // Control characters are escaped as \u00XX: six characters each. No valid URL holds them, but the bound must not
        // depend on what validation happens to refuse.
        var snapshot = WorstCase(url: new string('\u0001', SessionState.MaxUrlLength), reason: new string('\u0001', SessionState.MaxReasonLength));

        var fitted = snapshot.Fit();

        Assert.InRange(DurableJson.Utf16Bytes(fitted), 1, SessionStatusSnapshot.MaxUtf16Bytes);
        Assert.Null(fitted.CurrentUrl);
        Assert.Equal(SessionStatusSnapshot.MaxResults, fitted.Results.Count);
    }

    [Fact]
    public void Goal_IsNotInTheStatus_WhateverItsLength()
    {
        // The goal (up to 10,000 characters, 20 KB as UTF-16 on its own) lives in the orchestration's input.
        var state = SessionState.New("s", "agi-0", 100, new string('g', 10_000), DateTimeOffset.UnixEpoch);

        var snapshot = SessionStatusSnapshot.From(state, [], CommandCounts.Zero);

        Assert.DoesNotContain("ggg", Encoding.UTF8.GetString(System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(snapshot)), StringComparison.Ordinal);
        Assert.True(DurableJson.Utf16Bytes(snapshot) < 1024);
    }

    private static SessionStatusSnapshot WorstCase(string url, string reason)
    {
        var longestStatus = Enum.GetValues<SessionStatus>().Select(s => s.ToWire()).MaxBy(s => s.Length)!;
        var longestCode = new[] { RejectionCodes.AlreadyPaused, RejectionCodes.NotPaused, RejectionCodes.NotRunning, "ignored" }.MaxBy(c => c.Length)!;
        var results = Enumerable.Range(0, SessionStatusSnapshot.MaxResults)
            .Select(_ => new CommandResult(CommandEnvelope.NewId(), longestCode, longestStatus))
            .ToImmutableList();
        return new SessionStatusSnapshot(longestStatus, new string('a', 64), DateTimeOffset.MaxValue, long.MaxValue, Deleted: true, reason, url,
            results, long.MaxValue, long.MaxValue, int.MaxValue);
    }
}

namespace OpenExec.Gateway.Store;

/// <summary>The stores' log messages.</summary>
internal static partial class StoreLog
{
    [LoggerMessage(1, LogLevel.Warning, "Recovered {Count} claims left unfinished by a previous process; each is recorded as outcome_unknown")]
    public static partial void RecoveredClaims(ILogger logger, int count);

    [LoggerMessage(2, LogLevel.Error, "Store write failed; the batch of {Count} operations was rolled back and each failed (a request's answered 503 or 504, a late receipt retried)")]
    public static partial void WriteFailed(ILogger logger, int count, Exception exception);

    [LoggerMessage(11, LogLevel.Error, "Store write failed again ({Reason}); the batch of {Count} operations was rolled back and each failed")]
    public static partial void WriteFailedAgain(ILogger logger, string reason, int count);

    [LoggerMessage(12, LogLevel.Warning, "Copying receipts to Redis failed again ({Reason}); retrying in {DelayMs} ms")]
    public static partial void ReplicationFailedAgain(ILogger logger, string reason, long delayMs);

    [LoggerMessage(14, LogLevel.Warning, "The sweep of claims whose lease has passed failed again ({Reason}); it runs again in {Seconds} s")]
    public static partial void SweepFailedAgain(ILogger logger, string reason, int seconds);

    [LoggerMessage(13, LogLevel.Error, "A failed store write could not be rolled back")]
    public static partial void RollbackFailed(ILogger logger, Exception exception);

    [LoggerMessage(15, LogLevel.Warning, "Receipt signing key changed: chain {GatewayId} is now signed with key {Kid}; its earlier receipts were signed with {Previous}, which stay listed and verifiable. If the key was not rotated on purpose (OpenExec:ReceiptKeyPath), find out why: the key file was replaced or lost, and whoever holds a key can sign receipts")]
    public static partial void SigningKeyChanged(ILogger logger, string gatewayId, string kid, string previous);

    [LoggerMessage(3, LogLevel.Warning, "Redis has not taken the receipts of {Count} calls, which record their outcomes, in time: answered without it; their copies will record them")]
    public static partial void OutcomesDeferred(ILogger logger, int count);

    [LoggerMessage(20, LogLevel.Warning, "Redis could not free the released claim of {ExecId} now; the receipt copy will free it")]
    public static partial void ReleaseDeferred(ILogger logger, string execId, Exception exception);

    [LoggerMessage(21, LogLevel.Warning, "Redis names receipt {Seq} of chain {GatewayId} as the receipt of {ExecId}, but that receipt is {Other}'s: not served (Redis was written by something other than a gateway)")]
    public static partial void ReceiptCopyMisfiled(ILogger logger, string execId, string gatewayId, long seq, string other);

    [LoggerMessage(4, LogLevel.Warning, "Copying receipts to Redis failed; retrying in {DelayMs} ms")]
    public static partial void ReplicationFailed(ILogger logger, long delayMs, Exception exception);

    [LoggerMessage(5, LogLevel.Information, "Receipt copies to Redis resumed after seq {Seq}")]
    public static partial void ReplicationResumed(ILogger logger, long seq);

    [LoggerMessage(6, LogLevel.Warning, "Took over claim {ExecId}: its lease expired without an outcome; recorded as outcome_unknown")]
    public static partial void ClaimTakenOver(ILogger logger, string execId);

    [LoggerMessage(7, LogLevel.Warning, "Redis settings could not be checked")]
    public static partial void SettingsCheckFailed(ILogger logger, Exception exception);

    [LoggerMessage(8, LogLevel.Information, "Forgot {Count} used nonces older than the configured OpenExec:NonceRetention")]
    public static partial void PrunedClaims(ILogger logger, int count);

    [LoggerMessage(9, LogLevel.Warning, "Redis no longer has this gateway's chain up to seq {Copied} (its head is at {Head}): it lost data (a flush or a failover); copying again from there, restoring the claims")]
    public static partial void ReplicationLost(ILogger logger, long copied, long head);

    [LoggerMessage(10, LogLevel.Warning, "The sweep of claims whose lease has passed failed; it runs again in {Seconds} s")]
    public static partial void SweepFailed(ILogger logger, int seconds, Exception exception);

    [LoggerMessage(17, LogLevel.Warning, "The wall clock is {Seconds} s ahead of the time counted since the gateway started (a clock that was behind at start and has been put right, or stepped forward): used nonces are forgotten by the time counted, so kept that much longer; restart the gateway once its clock is right to follow the wall clock again")]
    public static partial void WallClockAhead(ILogger logger, long seconds);

    [LoggerMessage(16, LogLevel.Warning, "{Kept} claims given up on wait for Redis to mark them abandoned; more are not marked: one Redis applies after all reads as outcome_unknown after its lease (its nonce spent), not free")]
    public static partial void AbandonsDropped(ILogger logger, int kept);

    [LoggerMessage(18, LogLevel.Warning, "Redis answered the claim of {ExecId} after {Took}, too late to start its call within its lease (the gateway or its link to Redis was held up): given up on, nothing sent, answered 503")]
    public static partial void ClaimAnsweredLate(ILogger logger, string execId, TimeSpan took);

    [LoggerMessage(19, LogLevel.Warning, "Receipt signing key changed back: chain {GatewayId} is now signed with key {Kid}, which it used before, but its last receipt (seq {Seq}) was signed with {Last}. If the rotation to {Last} was not undone on purpose (OpenExec:ReceiptKeyPath no longer set?), restore the setting: auditors told of the rotation will read the receipts signed with {Kid} from here on as forged")]
    public static partial void SigningKeyReverted(ILogger logger, string gatewayId, string kid, long seq, string last);
}

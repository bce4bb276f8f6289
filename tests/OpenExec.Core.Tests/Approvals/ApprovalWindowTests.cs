using OpenExec.Core.Approvals;

namespace OpenExec.Core.Tests.Approvals;

public sealed class ApprovalWindowTests
{
    private static readonly TimeSpan Skew = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan MaxLifetime = TimeSpan.FromHours(24);
    private static readonly DateTimeOffset Now = new(2026, 11, 24, 18, 7, 0, TimeSpan.Zero);

    private static ApprovalRefusal? Check(string issuedAt, string expiresAt, DateTimeOffset? now = null) =>
        ApprovalWindow.Check(
            new ApprovalArtifact("id", "tenant", new string('a', 64), issuedAt, expiresAt, Convert.ToBase64String(new byte[64])),
            now ?? Now,
            Skew,
            MaxLifetime);

    [Theory]
    [InlineData("2026-11-24T18:05:00", "2026-11-24T18:10:00")]
    [InlineData("2026-11-24T18:05:00.123456", "2026-11-24T18:10:00.123456")]
    [InlineData("2026-11-24T18:05:00Z", "2026-11-24T18:10:00Z")]
    [InlineData("2026-11-24T20:05:00+02:00", "2026-11-24T20:10:00.5+02:00")]
    [InlineData("2026-11-24T13:05:00-05:00", "2026-11-24T18:10:00.1234567Z")]
    public void InsideWindowPasses(string issuedAt, string expiresAt) => Assert.Null(Check(issuedAt, expiresAt));

    [Fact]
    public void EmptyExpiresAtIsMissing()
    {
        Assert.Equal(new ApprovalRefusal("invalid_timestamp", "Missing expires_at in approval artifact"), Check("2026-11-24T18:05:00", ""));
    }

    [Theory]
    [InlineData("2026-11-24")]
    [InlineData("tomorrow")]
    [InlineData("2026-11-24 18:10:00")]
    [InlineData("2026-11-24T18:10:00.")]
    [InlineData("2026-11-24T18:10:00.1234567890")] // ten digits (up to nine are read)
    [InlineData("2026-13-24T18:10:00")]
    [InlineData(" 2026-11-24T18:10:00")]
    [InlineData("1795543800")]
    public void UnparseableExpiresAt(string expiresAt)
    {
        Assert.Equal(new ApprovalRefusal("invalid_timestamp", "Invalid expires_at timestamp"), Check("2026-11-24T18:05:00", expiresAt));
    }

    [Fact]
    public void UnparseableIssuedAt()
    {
        Assert.Equal(new ApprovalRefusal("invalid_timestamp", "Invalid issued_at timestamp"), Check("garbage", "2026-11-24T18:10:00"));
        Assert.Equal(new ApprovalRefusal("invalid_timestamp", "Invalid issued_at timestamp"), Check("", "2026-11-24T18:10:00"));
    }

    [Fact]
    public void ExpiresAtIsCheckedBeforeIssuedAt()
    {
        Assert.Equal("Invalid expires_at timestamp", Check("garbage", "garbage")!.Detail);
        Assert.Equal("Missing expires_at in approval artifact", Check("garbage", "")!.Detail);
    }

    [Fact]
    public void ExpiredOnlyAfterSkew()
    {
        var expires = "2026-11-24T18:10:00";
        var at = new DateTimeOffset(2026, 11, 24, 18, 10, 0, TimeSpan.Zero);
        var expired = new ApprovalRefusal("approval_expired", "Approval artifact expired");

        Assert.Null(Check("2026-11-24T18:05:00", expires, at + Skew));
        Assert.Equal(expired, Check("2026-11-24T18:05:00", expires, at + Skew + TimeSpan.FromTicks(10)));
    }

    [Fact]
    public void OffsetIsHonouredForExpiry()
    {
        // 18:10+02:00 is 16:10 UTC, long before Now (18:07 UTC).
        Assert.Equal("approval_expired", Check("2026-11-24T18:05:00+02:00", "2026-11-24T18:10:00+02:00")!.Code);
        // Without an offset the same text means UTC, which is still valid.
        Assert.Null(Check("2026-11-24T18:05:00", "2026-11-24T18:10:00"));
    }

    [Fact]
    public void IssuedAtWithinTheSkewOfYearOneIsRefusedNotThrown()
    {
        // issued_at - skew would fall before DateTimeOffset.MinValue.
        Assert.Equal("approval_lifetime", Check("0001-01-01T00:00:00", "2099-01-01T00:00:00")!.Code);
        Assert.Equal("approval_lifetime", Check("0001-01-01T00:00:29.9999999Z", "2099-01-01T00:00:00")!.Code);
    }

    [Fact]
    public void LongestUseIsHowLongAfterItsFirstAcceptanceAnApprovalStaysAccepted()
    {
        // Issued one skew ahead of the clock with the longest lifetime: accepted now, and still
        // accepted LongestUse later. Used nonces must be kept at least that long.
        var issued = Now + Skew;
        var (i, e) = (ApprovalTime.Format(issued), ApprovalTime.Format(issued + MaxLifetime));
        var longest = ApprovalWindow.LongestUse(MaxLifetime, Skew);

        Assert.Equal(MaxLifetime + Skew + Skew, longest);
        Assert.Null(Check(i, e, Now));
        Assert.Null(Check(i, e, Now + longest));
        Assert.Equal("approval_expired", Check(i, e, Now + longest + TimeSpan.FromTicks(10))!.Code);
    }

    [Fact]
    public void NotYetValidOnlyBeyondSkew()
    {
        var notYet = new ApprovalRefusal("approval_not_yet_valid", "Approval artifact is not yet valid");

        Assert.Null(Check("2026-11-24T18:07:30", "2026-11-24T18:10:00"));
        Assert.Equal(notYet, Check("2026-11-24T18:07:30.000001", "2026-11-24T18:10:00"));
    }

    [Fact]
    public void ExpiryIsCheckedBeforeNotYetValid()
    {
        Assert.Equal("approval_expired", Check("2026-11-25T18:05:00", "2026-11-24T18:00:00")!.Code);
    }

    [Fact]
    public void LifetimeOverMaximumOrNegativeIsRefusedEachWithItsOwnDetail()
    {
        var lifetime = new ApprovalRefusal("approval_lifetime", "Approval lifetime exceeds the maximum allowed");

        Assert.Null(Check("2026-11-24T18:05:00", "2026-11-25T18:05:00"));
        Assert.Equal(lifetime, Check("2026-11-24T18:05:00", "2026-11-25T18:05:00.000001"));
        // A negative lifetime is the same code, with a detail that says what is wrong with it
        // (it said "exceeds the maximum").
        Assert.Equal(
            new ApprovalRefusal("approval_lifetime", "Approval expires_at is before its issued_at"),
            Check("2026-11-24T18:06:00", "2026-11-24T18:05:00", Now.AddMinutes(-1.5)));
    }

    [Fact]
    public void FarFutureExpiryDoesNotOverflow()
    {
        Assert.Equal("approval_lifetime", Check("2026-11-24T18:05:00", "9999-12-31T23:59:59.999999")!.Code);
    }

    [Theory]
    [InlineData("2026-11-24T18:05:00", 0)]
    [InlineData("2026-11-24T18:05:00.1", 1_000_000)]
    [InlineData("2026-11-24T18:05:00.123456", 1_234_560)]
    [InlineData("2026-11-24T18:05:00.1234567", 1_234_567)]
    // Go's RFC3339Nano and Java's Instant write up to nine digits; a DateTime keeps seven (100 ns):
    // the rest are dropped, toward the earlier instant, and never carried into the next second.
    [InlineData("2026-11-24T18:05:00.29839800Z", 2_983_980)]
    [InlineData("2026-11-24T18:05:00.298398000Z", 2_983_980)]
    [InlineData("2026-11-24T18:05:00.123456789", 1_234_567)]
    [InlineData("2026-11-24T18:05:00.999999999", 9_999_999)]
    [InlineData("2026-11-24T19:05:00.000000099+01:00", 0)]
    [InlineData("2026-11-24T18:05:00Z", 0)]
    [InlineData("2026-11-24T19:05:00+01:00", 0)]
    [InlineData("2026-11-24T18:05:00.123456+00:00", 1_234_560)]
    // Python writes any offset below a day (timezone(timedelta(hours=15))); .NET's own parser
    // stops at +-14:00 and refused these as invalid_timestamp.
    [InlineData("2026-11-25T09:05:00+15:00", 0)]
    [InlineData("2026-11-25T18:04:00+23:59", 0)]
    [InlineData("2026-11-24T02:35:00.1-15:30", 1_000_000)]
    [InlineData("2026-11-23T18:06:00-23:59", 0)]
    public void TimeParsesIsoFormat(string text, long ticksAfter)
    {
        Assert.True(ApprovalTime.TryParse(text, out var value));
        Assert.Equal(new DateTimeOffset(2026, 11, 24, 18, 5, 0, TimeSpan.Zero).AddTicks(ticksAfter), value);
        Assert.Equal(TimeSpan.Zero, value.Offset);
    }

    [Theory]
    [InlineData("2026-11-24")]
    [InlineData("18:05:00")]
    [InlineData("2026-11-24T18:05")]
    [InlineData("2026-11-24T18:05:00z")]
    [InlineData("2026-11-24T18:05:00 ")]
    [InlineData("Tue, 24 Nov 2026 18:05:00 GMT")]
    [InlineData("11/24/2026 18:05:00")]
    [InlineData("2026-11-24T18:05:00+2:00")]
    [InlineData("2026-11-24T18:05:00+0200")]
    [InlineData("2026-11-24T18:05:00+02")]
    [InlineData("2026-11-24T18:05:00\n")]
    [InlineData("2026-11-24T18:05:00+24:00")]
    [InlineData("2026-11-24T18:05:00+02:60")]
    [InlineData("2026-11-24T24:05:00")]
    [InlineData("9999-12-31T23:59:59-01:00")]
    [InlineData("0001-01-01T00:00:00+01:00")]
    [InlineData("2026-11-24T18:05:00.1234567890")] // ten digits: no clock writes them
    [InlineData("2026-11-24T18:05:00.")]
    public void TimeRefusesOtherForms(string text) => Assert.False(ApprovalTime.TryParse(text, out _));
}
